"""Assisted mode mechanics with scripted models: repeats refused at no budget cost, prompt content,
edit requests, candidate selection, temperature schedule."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from agent.engine.config import AssistOptions
from agent.engine.orchestrator import start_run
from storage import EventLog
from tests.test_search_e2e import cfg, llm_requests, valid_answers, write_script
from tools.spaces import get_space

# The whole-list request (the default before position questions), for the tests of its behaviours.
LISTS = AssistOptions(position_questions=False, compact_prompt=False)


async def test_repeat_is_refused_without_spending_budget(tmp_path, tables):
    a = valid_answers("nas_macro", 3)
    replies = [json.dumps(a[0]), json.dumps(a[0]), json.dumps(a[1]), json.dumps(a[2])]
    db = str(tmp_path / "log.sqlite")
    llm = write_script(tmp_path / "s.json", replies)
    state = await start_run(cfg(space="nas_macro", mode="assisted", assist=LISTS, llm=llm, trials=1, iterations=3),
                            db=db)
    trial = state.trials[0]
    assert [it.arch for it in trial.iterations] == a  # three distinct evaluations from four answers
    assert not any(it.repeat for it in trial.iterations)
    assert trial.rejections == {"repeat": 1}
    requests = await llm_requests(db, state.run_id)
    refusal = requests[2]["messages"][-1]["content"]
    record = get_space("nas_macro").lookup(tuple(a[0]))
    assert refusal.startswith(f"{json.dumps(a[0])} was already evaluated: accuracy")
    assert f"(rank {record.rank} of 6561)" in refusal


async def test_without_refusal_a_repeat_counts_like_the_paper(tmp_path, tables):
    a = valid_answers("nas_macro", 2)
    replies = [json.dumps(a[0]), json.dumps(a[0]), json.dumps(a[1])]
    state = await start_run(cfg(space="nas_macro", mode="assisted", assist=replace(LISTS, refuse_repeats=False),
                                      llm=write_script(tmp_path / "s.json", replies), trials=1, iterations=3),
                            db=str(tmp_path / "log.sqlite"))
    assert [it.repeat for it in state.trials[0].iterations] == [False, True, False]


async def test_prompt_sorts_history_shows_statistics_and_asks_for_an_edit(tmp_path, tables):
    space = get_space("channel_resnet")
    a = valid_answers("channel_resnet", 3)
    accs = [space.lookup(tuple(x)).accuracy for x in a]
    db = str(tmp_path / "log.sqlite")
    state = await start_run(cfg(space="channel_resnet", mode="assisted",
                                      assist=replace(LISTS, explore_untried=False, ranked_values=False),
                                      llm=write_script(tmp_path / "s.json", [json.dumps(x) for x in a]),
                                      trials=1, iterations=3), db=db)
    prompt = (await llm_requests(db, state.run_id))[2]["messages"][1]["content"]
    order = sorted(range(2), key=lambda i: -accs[i])
    first, second = (prompt.index(json.dumps(a[i]) + ":") for i in order)
    assert first < second  # best first
    assert "channels[0]: 64:" in prompt and "untried" in prompt
    best = a[order[0]]
    assert f"The best channel list so far is {json.dumps(best)}" in prompt
    assert "changes one or two positions" in prompt
    assert state.trials[0].best().arch == a[max(range(3), key=lambda i: accs[i])]


async def test_exploration_asks_for_untried_values_then_ranked_values_take_over(tmp_path, tables):
    space = get_space("nas_macro")  # three values per position: exploration lasts at most 3 iterations
    a = [[0] * 8, [1] * 8, [1, 2, 1, 1, 1, 1, 1, 1], [2] * 8, [2, 2, 2, 2, 2, 2, 2, 1]]
    db = str(tmp_path / "log.sqlite")
    state = await start_run(cfg(space="nas_macro", mode="assisted", trials=1, iterations=5, assist=LISTS,
                                llm=write_script(tmp_path / "s.json", [json.dumps(x) for x in a])), db=db)
    prompts = [r["messages"][1]["content"] for r in await llm_requests(db, state.run_id)]
    assert "Values never tried yet" not in prompts[0]  # nothing tried: the plain first request
    # after [0]*8: every position has 1 and 2 untried
    assert "layer2: 1, 2\n" in prompts[1] and "uses an untried value" in prompts[1]
    # after [1]*8: only 2 is untried, everywhere
    assert "layer2: 2\nlayer3: 2\n" in prompts[2] and "values, best first" not in prompts[2]
    # third iteration done -> exploration is over although 2 is still untried at layer4..layer9
    assert "Values never tried yet" not in prompts[3]
    acc = {tuple(x): space.lookup(tuple(x)).accuracy for x in a[:3]}
    layer3 = {v: [acc[x] for x in acc if x[1] == v] for v in (0, 1, 2)}
    means = sorted(((sum(v) / len(v), k) for k, v in layer3.items()), reverse=True)
    expected = ", ".join(f"{k} {m:.2f}" for m, k in means)
    assert f"layer3: {expected}\n" in prompts[3]  # tried values best first, with their means
    assert "layer4: " in prompts[3] and "; untried: 2\n" in prompts[3]
    assert "take the value listed first at each position" in prompts[3]
    assert [it.arch for it in state.trials[0].iterations] == a


async def test_exploration_ends_once_every_value_is_tried(tmp_path, tables):
    a = [[0] * 8, [1] * 8, [2] * 8, [2, 2, 2, 2, 2, 2, 2, 1]]
    db = str(tmp_path / "log.sqlite")
    state = await start_run(cfg(space="nas_macro", mode="assisted", trials=1, iterations=4,
                                assist=replace(LISTS, edit_requests=False),
                                llm=write_script(tmp_path / "s.json", [json.dumps(x) for x in a])), db=db)
    last = (await llm_requests(db, state.run_id))[3]["messages"][1]["content"]
    assert "Values never tried yet" not in last and "untried" not in last
    assert "built from the values listed first" in last


async def test_ranked_values_list_only_the_best_five_results(tmp_path, tables):
    space = get_space("nas_macro")
    a = valid_answers("nas_macro", 7)
    db = str(tmp_path / "log.sqlite")
    state = await start_run(cfg(space="nas_macro", mode="assisted", trials=1, iterations=7,
                                assist=replace(LISTS, explore_untried=False),
                                llm=write_script(tmp_path / "s.json", [json.dumps(x) for x in a])), db=db)
    last = (await llm_requests(db, state.run_id))[6]["messages"][1]["content"]
    assert "Best results so far (5 of 6 evaluated" in last
    by_acc = sorted(a[:6], key=lambda x: -space.lookup(tuple(x)).accuracy)
    assert all(json.dumps(x) + ":" in last for x in by_acc[:5])
    assert json.dumps(by_acc[5]) + ":" not in last
    assert len(state.trials[0].iterations) == 7


def test_a_recorded_config_without_later_behaviours_loads_with_them_off():
    from agent.engine.config import RunConfig

    old = RunConfig(space="nas_macro", mode="assisted").to_json()
    for name in AssistOptions.ADDED_LATER:
        del old["assist"][name]
    loaded = RunConfig.from_json(old).assist
    assert not loaded.explore_untried and not loaded.ranked_values and not loaded.position_questions
    assert not loaded.incumbent_in_question
    assert loaded.refuse_repeats
    assert RunConfig.from_json(RunConfig(space="nas_macro").to_json()).assist == AssistOptions()


async def test_switching_behaviours_off_gives_the_paper_prompt_shape(tmp_path, tables):
    a = valid_answers("nas_macro", 2)
    db = str(tmp_path / "log.sqlite")
    opts = replace(LISTS, refuse_repeats=False, sorted_history=False, edit_requests=False, explore_untried=False,
                         ranked_values=False)
    state = await start_run(cfg(space="nas_macro", mode="assisted", assist=opts, trials=1, iterations=2,
                                      llm=write_script(tmp_path / "s.json", [json.dumps(x) for x in a])), db=db)
    prompt = (await llm_requests(db, state.run_id))[1]["messages"][1]["content"]
    assert "gives an accuracy of" in prompt and "What each choice gave" not in prompt
    assert "changes one or two positions" not in prompt


async def test_candidates_are_sampled_and_the_model_picks_one(tmp_path, tables):
    a = valid_answers("nas_macro", 3)
    # iteration 0: three candidates (one invalid), then the pick "2" -> the second valid candidate
    replies = [json.dumps(a[0]), "[9, 9]", json.dumps(a[1]), "2"]
    db = str(tmp_path / "log.sqlite")
    state = await start_run(cfg(space="nas_macro", mode="assisted", trials=1, iterations=1, temperature=0.2,
                                      assist=replace(LISTS, candidates=3),
                                      llm=write_script(tmp_path / "s.json", replies)), db=db)
    assert state.trials[0].iterations[0].arch == a[1]
    requests = await llm_requests(db, state.run_id)
    assert [r["purpose"] for r in requests] == ["candidate"] * 3 + ["pick"]
    assert len({r["seed"] for r in requests[:3]}) == 3  # different sampling seeds
    assert all(r["temperature"] == 0.7 for r in requests[:3])
    assert "1. " + json.dumps(a[0]) in requests[3]["messages"][-1]["content"]


async def test_temperature_schedule(tmp_path, tables):
    a = valid_answers("nas_macro", 3)
    db = str(tmp_path / "log.sqlite")
    state = await start_run(cfg(space="nas_macro", mode="assisted", trials=1, iterations=3,
                                      assist=replace(LISTS, temperature_schedule="0.2:1.0"),
                                      llm=write_script(tmp_path / "s.json", [json.dumps(x) for x in a])), db=db)
    assert [r["temperature"] for r in await llm_requests(db, state.run_id)] == [0.2, 0.6, 1.0]


async def test_compact_prompt_is_short_and_names_every_option(tmp_path, tables):
    for space_name in ("nas_macro", "channel_mobilenet", "nb201_imagenet16"):
        a = valid_answers(space_name, 1)
        db = str(tmp_path / f"{space_name}.sqlite")
        await start_run(cfg(space=space_name, mode="assisted", trials=1, iterations=1,
                            assist=replace(LISTS, compact_prompt=True),
                            llm=write_script(tmp_path / "s.json", [json.dumps(a[0])])), db=db, run_id="c")
        compact = (await llm_requests(db, "c"))[0]["messages"][1]["content"]
        space = get_space(space_name)
        for opts in space.positions:
            assert all(str(v) in compact for v in opts)
        assert "class " not in compact and len(compact) < 1400


def test_assist_flag_parsing():
    from agent.flags import _assist_options
    from tools.errors import UserError

    on = ("refuse_repeats", "sorted_history", "edit_requests", "explore_untried", "ranked_values", "compact_prompt",
          "position_questions")
    assert [getattr(_assist_options("all", 1, ""), n) for n in on] == [True] * 7
    assert [getattr(_assist_options("none", 1, ""), n) for n in on] == [False] * 7
    assert [getattr(_assist_options("no-edit-requests,no-position-questions", 1, ""), n) for n in on] == [
        True, True, False, True, True, True, False]
    assert [getattr(_assist_options("compact_prompt,refuse-repeats", 3, "0.2:1"), n) for n in on] == [
        True, False, False, False, False, True, False]
    with pytest.raises(UserError, match="unknown behaviour"):
        _assist_options("telepathy", 1, "")
    # left to the space by default; naming it forces it on or off
    assert _assist_options("all", 1, "").results_in_question is None
    assert _assist_options("none", 1, "").results_in_question is False
    assert _assist_options("position_questions,results_in_question", 1, "").results_in_question is True
    assert _assist_options("no-results-in-question", 1, "").results_in_question is False
    assert _assist_options("no-edit-requests", 1, "").results_in_question is None
    assert _assist_options("all", 1, "").options_by_name is None
    assert _assist_options("none", 1, "").options_by_name is False
    assert _assist_options("no-options-by-name", 1, "").options_by_name is False
    assert _assist_options("position_questions,compact_prompt,options_by_name", 1, "").options_by_name is True
    # the defaults changed both ways: + switches one on, no- one off, the rest stay as the defaults have them
    changed = _assist_options("+keep-or-change,no-incumbent-in-question", 1, "")
    assert (changed.keep_or_change, changed.incumbent_in_question) == (True, False)
    assert [getattr(changed, n) for n in on] == [True] * 7 and changed.results_in_question is None
    assert _assist_options("all", 1, "").incumbent_in_question is True
    assert _assist_options("+keep_or_change", 1, "").incumbent_in_question is True
    with pytest.raises(UserError, match="mixes names"):
        _assist_options("keep_or_change,no-incumbent-in-question", 1, "")
    with pytest.raises(UserError, match="unknown behaviour '\\+telepathy'"):
        _assist_options("+telepathy", 1, "")


def _position_prompts(requests: list[dict]) -> list[str]:
    return [r["messages"][-1]["content"] for r in requests if r["purpose"] == "position"]


async def _iteration_payloads(db: str, run_id: str) -> list[dict]:
    log = await EventLog.open(db, create=False)
    try:
        return [e.payload for e in await log.read(run_id) if e.type == "iteration.completed"]
    finally:
        await log.close()


async def test_position_questions_ask_one_position_at_a_time(tmp_path, tables):
    space = get_space("nas_macro")
    first, second = [0, 0, 0, 0, 0, 0, 0, 1], [2, 1, 1, 1, 1, 1, 0, 2]
    replies = [str(v) for v in first + second]
    db = str(tmp_path / "log.sqlite")
    state = await start_run(cfg(space="nas_macro", mode="assisted", trials=1, iterations=2,
                                assist=AssistOptions(options_by_name=False, position_questions=True,
                                                     results_in_question=False),
                                llm=write_script(tmp_path / "s.json", replies)), db=db)
    trial = state.trials[0]
    assert [it.arch for it in trial.iterations] == [first, second]
    requests = await llm_requests(db, state.run_id)
    assert len(requests) == 16 and all(r["purpose"] == "position" for r in requests)
    prompts = _position_prompts(requests)
    # every question is asked alone after the same intro (no earlier answers of the iteration shown)
    assert all(len(r["messages"]) == 2 for r in requests)
    assert len({p.rsplit("\n\nConsider ", 1)[0] for p in prompts[:8]}) == 1
    names = space.value_names
    assert prompts[0].endswith("evaluated already).\n\nConsider layer2 alone. Its options: 0, 1, 2. Ignoring "
                               "size and cost, which option gives the highest accuracy? Answer with the option only.")
    assert all(f"{v} = {names[v].split('(')[0]}" in prompts[0] for v in names)  # the task says what each is
    assert "What each option gave so far" not in prompts[0]  # nothing evaluated yet
    # second iteration: the intro lists what each option gave so far, the question only the options
    acc = space.lookup(tuple(first)).accuracy
    assert f"\nlayer2: 0 {acc:.2f} (1x), 1 untried, 2 untried\n" in prompts[8]
    assert f"\nlayer9: 0 untried, 1 {acc:.2f} (1x), 2 untried\n" in prompts[8]
    # ... and, by default, which option the best so far has there
    assert prompts[8].endswith(f"\n\nConsider layer2 alone. Its options: 0, 1, 2. The best operation ID list so far "
                               f"({acc:.2f}%) has 0 here. Ignoring size and cost, which option gives the highest "
                               "accuracy? Answer with the option only.")
    assert f"{json.dumps(first)}: " in prompts[8]  # the result so far is in the intro
    # the answer is constrained to the options, as integers where they are numbers
    assert requests[8]["answer_schema"] == {"type": "integer", "enum": [0, 1, 2]}
    # the log records how many choices took the tried option with the best mean (in the second iteration
    # only layer8 took its one tried option)
    assert [(p["best_mean_choices"], p["positions"]) for p in await _iteration_payloads(db, state.run_id)] \
        == [(0, 8), (1, 8)]


async def test_position_questions_record_choices_that_follow_the_statistics(tmp_path, tables):
    space = get_space("nas_macro")
    a, b = [2] * 8, [0] * 8
    best, worst = sorted((2, 0), key=lambda v: -space.lookup((v,) * 8).accuracy)
    third = [best] * 6 + [worst, 1]  # six positions follow the better mean, one the worse, one untried
    replies = [str(v) for v in a + b + third]
    db = str(tmp_path / "log.sqlite")
    state = await start_run(cfg(space="nas_macro", mode="assisted", trials=1, iterations=3,
                                assist=AssistOptions(options_by_name=False, position_questions=True),
                                llm=write_script(tmp_path / "s.json", replies)), db=db)
    assert state.trials[0].iterations[2].arch == third
    assert [p["best_mean_choices"] for p in await _iteration_payloads(db, state.run_id)] == [0, 0, 6]


async def test_results_in_question_list_each_positions_results_in_its_own_question(tmp_path, tables):
    space = get_space("nas_macro")
    first, second = [0] * 7 + [1], [2] * 8
    replies = [str(v) for v in first + second]
    db = str(tmp_path / "log.sqlite")
    state = await start_run(cfg(space="nas_macro", mode="assisted", trials=1, iterations=2,
                                assist=AssistOptions(options_by_name=False, results_in_question=True),
                                llm=write_script(tmp_path / "s.json", replies)), db=db)
    assert [it.arch for it in state.trials[0].iterations] == [first, second]
    prompts = _position_prompts(await llm_requests(db, state.run_id))
    acc = space.lookup(tuple(first)).accuracy
    # the intro keeps the best results but not the table of every position ...
    assert f"{json.dumps(first)}: " in prompts[8] and "What each option gave so far" not in prompts[8]
    # ... each question carries its own position's row
    assert prompts[8].endswith(f"\n\nConsider layer2 alone. What its options gave so far: 0 {acc:.2f} (1x), "
                               f"1 untried, 2 untried. The best operation ID list so far ({acc:.2f}%) has 0 here. "
                               "Ignoring size and cost, which option gives the highest accuracy? Answer with the "
                               "option only.")
    assert f"Consider layer9 alone. What its options gave so far: 0 untried, 1 {acc:.2f} (1x), 2 untried." \
        in prompts[15]
    # the first iteration too asks with the row, every option untried
    assert "Consider layer2 alone. What its options gave so far: 0 untried, 1 untried, 2 untried. Ignoring" \
        in prompts[0]


@pytest.mark.parametrize(("space_name", "with_results"), [("nb201_cifar100", True), ("channel_mobilenet", False)])
async def test_results_in_question_by_default_where_options_are_named_operations(tmp_path, tables, space_name,
                                                                                 with_results):
    space = get_space(space_name)
    n = len(space.positions)
    first, second = [p[0] for p in space.positions], [p[-1] for p in space.positions]
    replies = [json.dumps(v) for v in first + second]
    db = str(tmp_path / "log.sqlite")
    state = await start_run(cfg(space=space_name, mode="assisted", trials=1, iterations=2,
                                assist=AssistOptions(options_by_name=False),
                                llm=write_script(tmp_path / "s.json", replies)), db=db)
    assert [it.arch for it in state.trials[0].iterations] == [first, second]
    # the run records what the space decided, so replay and resume do not depend on the rule staying put
    assert state.config["assist"]["results_in_question"] is with_results
    second_prompts = _position_prompts(await llm_requests(db, state.run_id))[n:]
    assert len(second_prompts) == n
    rows = ["What its options gave so far: " in p for p in second_prompts]
    table = ["What each option gave so far" in p for p in second_prompts]
    assert rows == [with_results] * n and table == [not with_results] * n


async def test_position_questions_leave_out_values_that_would_repeat_an_evaluation(tmp_path, tables):
    # After [0]*7+[1] and [0]*7+[2], with layer2..layer8 answered 0, only 0 is left at layer9.
    a, b = [0] * 7 + [1], [0] * 7 + [2]
    replies = [str(v) for v in a + b] + ["0"] * 8
    db = str(tmp_path / "log.sqlite")
    state = await start_run(cfg(space="nas_macro", mode="assisted", trials=1, iterations=3,
                                assist=AssistOptions(options_by_name=False, position_questions=True,
                                                     results_in_question=False),
                                llm=write_script(tmp_path / "s.json", replies)), db=db)
    trial = state.trials[0]
    assert [it.arch for it in trial.iterations] == [a, b, [0] * 8]
    assert not any(it.repeat for it in trial.iterations)
    last = (await llm_requests(db, state.run_id))[-1]
    assert last["answer_schema"]["enum"] == [0]
    question = last["messages"][-1]["content"].rsplit("\n\n", 1)[1]
    assert question.startswith("Consider layer9 alone. Its options: 0. The best")


async def test_position_questions_re_ask_an_unusable_value(tmp_path, tables):
    replies = ["7", "I would pick 2."] + ["1"] * 7
    db = str(tmp_path / "log.sqlite")
    state = await start_run(cfg(space="nas_macro", mode="assisted", trials=1, iterations=1,
                                assist=AssistOptions(options_by_name=False, position_questions=True),
                                llm=write_script(tmp_path / "s.json", replies)), db=db)
    trial = state.trials[0]
    assert trial.iterations[0].arch == [2] + [1] * 7  # the number is read out of the free-text answer
    assert trial.rejections == {"invalid": 1}
    second = (await llm_requests(db, state.run_id))[1]["messages"]
    assert second[-2:] == [{"role": "assistant", "content": "7"},
                           {"role": "user", "content": "Answer with one of the values of layer2: 0, 1, 2."}]


async def test_position_questions_with_the_obfuscated_view_answer_letters(tmp_path, tables):
    db = str(tmp_path / "log.sqlite")
    state = await start_run(cfg(space="nb201_cifar10", mode="assisted", trials=1, iterations=1, obfuscate=True,
                                obfuscation_seed=3, assist=AssistOptions(position_questions=True),
                                llm=write_script(tmp_path / "s.json", ['"A"'] * 6)), db=db)
    requests = await llm_requests(db, state.run_id)
    assert requests[0]["answer_schema"] == {"type": "string", "enum": ["A", "B", "C", "D", "E"]}
    assert "conv" not in requests[0]["messages"][-1]["content"]
    assert len(state.trials[0].iterations[0].arch) == 6


async def test_position_questions_re_ask_an_architecture_over_the_size_limit(tmp_path, tables):
    space = get_space("nas_macro")
    big, small = [2] * 8, [1] * 8
    limit = (space.lookup(tuple(big)).params + space.lookup(tuple(small)).params) // 2
    db = str(tmp_path / "log.sqlite")
    state = await start_run(cfg(space="nas_macro", mode="assisted", trials=1, iterations=1, max_params=limit,
                                assist=AssistOptions(options_by_name=False, position_questions=True),
                                llm=write_script(tmp_path / "s.json", [str(v) for v in big + small])), db=db)
    trial = state.trials[0]
    assert [it.arch for it in trial.iterations] == [small] and trial.rejections == {"constraint": 1}
    second = [r["messages"][-1]["content"] for r in await llm_requests(db, state.run_id)][8]
    assert f"{json.dumps(big)} has " in second and f"over the limit of {limit:,}" in second  # the model is told why


async def test_options_by_name_write_every_operation_by_its_name(tmp_path, tables):
    space = get_space("nb201_cifar10")
    names = space.option_names
    first, second = [3, 1, 2, 0, 3, 4], [3, 3, 3, 3, 3, 3]
    replies = [json.dumps(names[v]) for v in first + second]
    db = str(tmp_path / "log.sqlite")
    state = await start_run(cfg(space="nb201_cifar10", mode="assisted", trials=1, iterations=2,
                                assist=AssistOptions(options_by_name=True),
                                llm=write_script(tmp_path / "s.json", replies)), db=db)
    # the names are read back into the real operation ids
    assert [it.arch for it in state.trials[0].iterations] == [first, second]
    assert state.config["assist"]["options_by_name"] is True
    requests = await llm_requests(db, state.run_id)
    prompts = _position_prompts(requests)
    assert requests[0]["answer_schema"] == {"type": "string", "enum": ["none", "skip", "conv1x1", "conv3x3",
                                                                       "avgpool"]}
    # the task says what each name is, and asks for an operation list written with them
    assert "Operations: none = none (outputs zeros: cuts that edge), skip = skip connection (identity), " \
           "conv1x1 = ReLU-Conv1x1-BN, conv3x3 = ReLU-Conv3x3-BN" in prompts[0]
    assert "[conv3x3, skip, conv1x1, none, conv3x3, avgpool]" in prompts[0] and " = none (" in prompts[0]
    assert "The next operation list is chosen one position at a time" in prompts[0]
    assert prompts[0].endswith("Consider op0 alone. What its options gave so far: none untried, skip untried, "
                               "conv1x1 untried, conv3x3 untried, avgpool untried. Ignoring size and cost, which "
                               "option gives the highest accuracy? Answer with the option only.")
    # the second iteration: the best result and each question's row by name, no option id anywhere
    acc = space.lookup(tuple(first)).accuracy
    assert f"\n[conv3x3, skip, conv1x1, none, conv3x3, avgpool]: {acc:.2f}" in prompts[6]
    assert prompts[6].endswith(f"What its options gave so far: none untried, skip untried, conv1x1 untried, "
                               f"conv3x3 {acc:.2f} (1x), avgpool untried. The best operation list so far "
                               f"({acc:.2f}%) has conv3x3 here. Ignoring size and cost, which option gives the "
                               "highest accuracy? Answer with the option only.")
    assert not any(re.search(rf"\b{v} (=|untried|\d)", p) for p in prompts for v in range(5))


@pytest.mark.parametrize("space_name", ["nb201_cifar10", "channel_resnet"])
async def test_incumbent_in_question_names_what_the_best_so_far_has_at_each_position(tmp_path, tables,
                                                                                    space_name):
    space = get_space(space_name)
    names = space.option_names
    n = len(space.positions)
    # three architectures, the best of the first two is found by its accuracy, not its order
    first, second = [p[0] for p in space.positions], [p[-1] for p in space.positions]
    third = [p[1] for p in space.positions]
    best = max((first, second), key=lambda a: space.lookup(tuple(a)).accuracy)
    best_acc = space.lookup(tuple(best)).accuracy
    replies = [json.dumps(names[v]) if names else str(v) for v in first + second + third]
    db = str(tmp_path / "log.sqlite")
    state = await start_run(cfg(space=space_name, mode="assisted", trials=1, iterations=3,
                                assist=AssistOptions(incumbent_in_question=True),
                                llm=write_script(tmp_path / "s.json", replies)), db=db)
    assert [it.arch for it in state.trials[0].iterations] == [first, second, third]
    assert state.config["assist"]["incumbent_in_question"] is True
    prompts = _position_prompts(await llm_requests(db, state.run_id))
    questions = [p.rsplit("\n\nConsider ", 1)[1] for p in prompts]
    assert not any("so far (" in q for q in questions[:n])  # nothing evaluated yet: no best to name
    answer = "operation list" if names else "channel list"
    for j, question in enumerate(questions[2 * n:]):
        label = names[best[j]] if names else str(best[j])
        assert f". The best {answer} so far ({best_acc:.2f}%) has {label} here. Ignoring size and cost" \
            in question
    assert AssistOptions().incumbent_in_question  # the default since stop 35
    # off, the questions are as before
    db_off = str(tmp_path / "off.sqlite")
    off = await start_run(cfg(space=space_name, mode="assisted", trials=1, iterations=3,
                              assist=AssistOptions(incumbent_in_question=False),
                              llm=write_script(tmp_path / "s2.json", replies)), db=db_off)
    assert off.config["assist"]["incumbent_in_question"] is False
    assert not any("so far (" in p.rsplit("\n\nConsider ", 1)[1]
                   for p in _position_prompts(await llm_requests(db_off, off.run_id)))


@pytest.mark.parametrize("space_name", ["nb201_cifar10", "channel_resnet"])
async def test_keep_or_change_offers_keep_for_the_best_architectures_option(tmp_path, tables, space_name):
    space = get_space(space_name)
    names = space.option_names
    n = len(space.positions)
    first, second, third = ([p[k] for p in space.positions] for k in (0, -1, 1))
    best = max((first, second, third), key=lambda a: space.lookup(tuple(a)).accuracy)
    other = next(a for a in (first, second, third) if a is not best)
    # the fourth architecture keeps the best's option at even positions and takes another's at odd ones
    fourth = [best[j] if j % 2 == 0 else other[j] for j in range(n)]

    def label(v: int) -> str:
        return names[v] if names else str(v)

    replies = [json.dumps(label(v)) if names else str(v) for v in first + second + third]
    replies += [json.dumps("keep") if j % 2 == 0 else json.dumps(label(v)) for j, v in enumerate(fourth)]
    db = str(tmp_path / "log.sqlite")
    state = await start_run(cfg(space=space_name, mode="assisted", trials=1, iterations=4,
                                assist=AssistOptions(keep_or_change=True),
                                llm=write_script(tmp_path / "s.json", replies)), db=db)
    assert [it.arch for it in state.trials[0].iterations] == [first, second, third, fourth]
    requests = await llm_requests(db, state.run_id)
    questions = [p.rsplit("\n\nConsider ", 1)[1] for p in _position_prompts(requests)]
    # before three architectures have results, the usual questions
    assert not any("keep" in q for q in questions[:3 * n])
    answer = "operation list" if names else "channel list"
    best_acc = space.lookup(tuple(best)).accuracy
    assert len(questions) == 4 * n
    for j, question in enumerate(questions[3 * n:]):
        others = [label(v) for v in space.positions[j] if v != best[j]]
        assert f"The best {answer} so far ({best_acc:.2f}%) has {label(best[j])} here." in question
        assert question.endswith(f"which gives the highest accuracy: keep {label(best[j])}, or "
                                 f"{', '.join(others)}? Answer with the option only.")
        # "keep" stands for the best's option, which is not offered under its own name
        assert requests[3 * n + j]["answer_schema"] == {"type": "string", "enum": ["keep", *others]}
        # where the options are named operations, the question still carries its position's results
        assert ("What its options gave so far: " in question) == bool(names)


async def test_keep_is_not_offered_where_keeping_would_repeat_the_best(tmp_path, tables):
    space = get_space("nas_macro")
    first, second, third = ([p[k] for p in space.positions] for k in (0, 1, 2))
    best = max((first, second, third), key=lambda a: space.lookup(tuple(a)).accuracy)
    changed = next(v for v in space.positions[-1] if v != best[-1])
    replies = [str(v) for v in first + second + third] + ['"keep"'] * 7 + [str(changed)]
    db = str(tmp_path / "log.sqlite")
    state = await start_run(cfg(space="nas_macro", mode="assisted", trials=1, iterations=4,
                                assist=AssistOptions(keep_or_change=True, options_by_name=False),
                                llm=write_script(tmp_path / "s.json", replies)), db=db)
    assert state.trials[0].iterations[3].arch == [*best[:7], changed]
    requests = await llm_requests(db, state.run_id)
    assert all("keep" in r["answer_schema"]["enum"] for r in requests[24:31])
    # kept up to layer8, layer9 cannot keep the best's option (that would be the best again): no "keep" there
    last = requests[31]
    assert "keep" not in last["answer_schema"]["enum"] and best[-1] not in last["answer_schema"]["enum"]
    assert "keep" not in last["messages"][-1]["content"].rsplit("Consider ", 1)[1]


async def _asked_with_and_without_names(tmp_path, space_name: str, iterations: int) -> dict[bool, list[dict]]:
    """The requests of two runs with the same seeds and random valid answers, options_by_name off and on."""
    asked = {}
    for by_name in (False, True):
        db = str(tmp_path / f"{by_name}.sqlite")
        state = await start_run(cfg(space=space_name, mode="assisted", trials=1, iterations=iterations, seed=5,
                                    temperature=0.7, assist=AssistOptions(options_by_name=by_name),
                                    llm="control:random"), db=db)
        asked[by_name] = await llm_requests(db, state.run_id)
    return asked


async def test_options_by_name_is_on_by_default_where_the_options_are_operations(tmp_path, tables):
    # Left unset, a run decides it from its space and records it resolved; the questions then follow it.
    for space_name, expected in (("nb201_cifar100", True), ("nas_macro", True), ("channel_resnet", False)):
        db = str(tmp_path / f"{space_name}.sqlite")
        state = await start_run(cfg(space=space_name, mode="assisted", trials=1, iterations=1, seed=5,
                                    temperature=0.7, llm="control:random"), db=db)
        assert state.config["assist"]["options_by_name"] is expected
        schema = (await llm_requests(db, state.run_id))[0]["answer_schema"]
        assert (schema["type"] == "string") is expected, space_name


async def test_options_by_name_leave_spaces_without_names_as_they_are(tmp_path, tables):
    asked = await _asked_with_and_without_names(tmp_path, "channel_resnet", 2)
    assert len(asked[True]) == 14 and asked[True] == asked[False]


async def test_the_label_prior_benchmark_sends_what_options_by_name_asks(tmp_path, tables):
    # benchmarks/label_prior.py rewrites a recorded first iteration with names; it must send exactly the
    # questions a run with options_by_name asks, or its figures would not be this behaviour's.
    from benchmarks.label_prior import with_names

    names = list(get_space("nb201_cifar100").option_names.values())
    asked = await _asked_with_and_without_names(tmp_path, "nb201_cifar100", 1)
    assert len(asked[True]) == 6 and [with_names(r, names) for r in asked[False]] == asked[True]
