"""Write tests/golden/runs_v1.sqlite: finished runs recorded by the first version of the search.

Later versions must still replay them exactly (tests/test_golden_runs.py). Run once, from the repo root:
    GENIUS_DATA_DIR=../shared/benchmarks python tests/golden/make_golden_runs.py
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from agent.engine.config import AssistOptions, RunConfig  # noqa: E402
from agent.engine.orchestrator import start_run  # noqa: E402
from tools.spaces import get_space  # noqa: E402

TARGET = ROOT / "tests" / "golden" / "runs_v1.sqlite"


async def main() -> None:
    TARGET.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        space = get_space("nas_macro")
        answers = [json.dumps(list(space.from_index(i * 397))) for i in range(1, 7)]
        script = Path(tmp) / "script.json"
        script.write_text(json.dumps(["no list here", *answers, answers[0]]))
        db = str(TARGET)
        await start_run(RunConfig(space="nas_macro", llm=f"scripted:{script}", trials=2, iterations=6,
                                  rate_limit=1000.0, seed=1), db=db, run_id="golden-paper")
        await start_run(RunConfig(space="nas_macro", mode="assisted", llm=f"scripted:{script}", trials=1,
                                  iterations=6, rate_limit=1000.0, seed=2, assist=AssistOptions()),
                        db=db, run_id="golden-assisted")
        await start_run(RunConfig(space="channel_resnet", optimizer="evolution", trials=2, iterations=8, seed=3),
                        db=db, run_id="golden-evolution")
    for suffix in ("-wal", "-shm", ".writer-lock"):
        Path(str(TARGET) + suffix).unlink(missing_ok=True)
    print(f"wrote {TARGET} ({TARGET.stat().st_size} bytes)")


if __name__ == "__main__":
    asyncio.run(main())
