"""The search-space interface: encoding, validation, neighbourhood and benchmark lookup.

An architecture (:data:`tools.evaluation.Arch`) is written as the prompts ask the model to write it:
one value per searchable position, an op id (NAS-Bench-Macro, NAS-Bench-201) or a channel number
(Channel-Bench-Macro). Internally a position's value is also an *option index* (its place in
``positions[i]``), and an architecture a mixed-radix number over those indices (position 0 most
significant): ``index(arch)`` in ``0..size-1`` is what the benchmark arrays are indexed by.

Each family subclass supplies the table key encoding and the table loader; everything else lives here,
so strategies never special-case a space.

numpy is imported inside the functions that use it: the commands that only list spaces or read the log load
this module and should not pay numpy's 0.06 s import (benchmarks/startup.py).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from math import prod
from typing import TYPE_CHECKING, Any

from prompts import render
from tools.data import DataLocation, find_data_file, resolve_data_file
from tools.errors import DataFileError, UserError
from tools.evaluation import Arch, Evaluation

if TYPE_CHECKING:
    import numpy as np

_MAX_SHOWN = 60  # characters of a bad answer quoted back in an error message


class InvalidArchitecture(UserError):
    """An answer that is not an architecture of the space.

    The message is fed back to the language model verbatim: it says exactly what is wrong and what is
    allowed (e.g. ``position 3 (layer4) must be one of 0, 1, 2; got 5``). Positions are counted from 1,
    as items of the answer list.
    """


@dataclass(frozen=True)
class BenchmarkTable:
    """A whole benchmark as read-only arrays indexed by :meth:`SearchSpace.index`.

    ``accuracy`` is the searched metric, ``test_accuracy`` the reported one (the same values where the
    benchmark has no validation split); ``strict_rank`` is 1 + the number of architectures with a strictly
    higher ``test_accuracy``; ``paper_rank`` is the rank the GENIUS code printed (None where the derived
    ranks file is absent); ``params``/``flops`` are None where the table has no such column.
    """

    accuracy: np.ndarray
    test_accuracy: np.ndarray
    strict_rank: np.ndarray
    params: np.ndarray | None = None
    flops: np.ndarray | None = None
    paper_rank: np.ndarray | None = None


def strict_ranks(values: np.ndarray) -> np.ndarray:
    """1 + number of strictly greater entries, for every entry (ties share the best rank); O(n log n)."""
    import numpy as np  # lazily (module docstring)

    ordered = np.sort(values)
    return (1 + len(values) - np.searchsorted(ordered, values, side="right")).astype(np.int64)


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def _is_integer(value: object) -> bool:
    import numpy as np  # lazily (module docstring)

    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _join(values: Sequence[int]) -> str:
    return ", ".join(str(v) for v in values)


class SearchSpace:
    """A discrete search space with ``len(positions)`` positions and its benchmark table.

    Subclasses set the class attributes and implement :meth:`key`, :meth:`_parse_key` and
    :meth:`_load_table`. Instances are cheap; the table is read lazily, once, on first use.
    """

    name: str
    family: str  # "nas_macro" | "channel" | "nb201" (decisions on it belong to tools/spaces only)
    benchmark: str  # human name, e.g. "NAS-Bench-Macro (CIFAR-10)"
    positions: tuple[tuple[int, ...], ...]  # allowed values per position, as the prompt shows them
    position_names: tuple[str, ...]
    value_names: dict[int, str]  # op id -> op name (empty for channel spaces)
    searched_metric: str
    reported_metric: str
    table_file: str  # relative path of the benchmark table (see tools.data)
    ranks_file: str | None = None  # optional derived paper-rank table
    value_kind: str = "operation ids"  # how the answer's values are called in messages

    # ---- its face: how the space is shown to a model (the prompts' texts live in prompts/) -----------------
    answer_name: str = "operation ID list"  # what the prompts call an answer
    # The paper's conversation for this space: "rebuilt" every iteration with every result (Appendices A-B),
    # or one "growing" chat with Algorithm 1's feedback (Appendix C, NAS-Bench-201).
    conversation: str = "rebuilt"
    builder: str  # the tools.builders family that builds its networks
    # The paper's system and user prompts and the compact description (templates under prompts/).
    paper_system_template: str = "paper/nas_macro_system"
    paper_user_template: str
    compact_template: str
    # Short names for the options, for the position questions' ``options_by_name`` (empty where the options
    # are sizes), and the compact description that writes them; the answer is then an "operation list".
    option_names: dict[int, str] = {}  # noqa: RUF012 - class-level constant, never mutated
    named_compact_template: str = ""

    def paper_user_prompt(self) -> str:
        """The space description of the paper's user prompt (Appendix A.2 / B.2 / C.2)."""
        return render(self.paper_user_template)

    def paper_system_prompt(self) -> str:
        return render(self.paper_system_template)

    def compact_prompt(self, *, named: bool = False) -> str:
        """A short description of the space (a few hundred tokens, against the paper's ~1,000); ``named``:
        the form that writes options by their :attr:`option_names` (for spaces that have them)."""
        return render(self.named_compact_template if named and self.option_names else self.compact_template)

    def __init__(self, location: DataLocation) -> None:
        self.location = location
        self.size = prod(len(p) for p in self.positions)
        # option index of each allowed value, per position (O(1) encode)
        self._option_of: tuple[dict[int, int], ...] = tuple(
            {v: i for i, v in enumerate(p)} for p in self.positions
        )
        radices = [len(p) for p in self.positions]
        # weight of position i in the mixed-radix index: product of the radices after it
        self._weights = tuple(prod(radices[i + 1 :]) for i in range(len(radices)))
        self._table: BenchmarkTable | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} size={self.size}>"

    # ---- family hooks ---------------------------------------------------------------------------

    def key(self, arch: Arch) -> str:
        """The benchmark table key of ``arch``."""
        raise NotImplementedError

    def _parse_key(self, text: str) -> Arch | None:
        """``text`` as a benchmark key, or None when it is not in a key format of this space."""
        raise NotImplementedError

    def _load_table(self) -> BenchmarkTable:
        raise NotImplementedError

    # ---- encoding and validation ----------------------------------------------------------------

    def _allowed(self) -> str:
        """The allowed values, grouping consecutive positions that share them."""
        groups: list[tuple[int, int]] = []  # [first, last] positions with equal options
        for i in range(len(self.positions)):
            if groups and self.positions[groups[-1][0]] == self.positions[i]:
                groups[-1] = (groups[-1][0], i)
            else:
                groups.append((i, i))
        if len(groups) == 1:
            return f"each one of {_join(self.positions[0])}"
        parts = []
        for first, last in groups:
            names = self.position_names[first]
            if last > first:
                names += ".." + self.position_names[last]
            parts.append(f"{names} one of {_join(self.positions[first])}")
        return "; ".join(parts)

    def _expected(self) -> str:
        n = len(self.positions)
        return (
            f"expected a list of {n} {self.value_kind} "
            f"({self.position_names[0]}..{self.position_names[-1]}), {self._allowed()}"
        )

    def validate(self, values: Sequence[object]) -> Arch:
        """``values`` as an :data:`Arch`, or :class:`InvalidArchitecture` naming every bad position.

        Integral floats (``2.0``) are accepted as integers; bools, other floats and strings are not.
        """
        import numpy as np  # lazily (module docstring)

        if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray):
            raise InvalidArchitecture(f"{self._expected()}; got {_show(values)}")
        items = list(values)
        n = len(self.positions)
        if len(items) != n:
            noun = "value" if len(items) == 1 else "values"
            raise InvalidArchitecture(f"{self._expected()}; got {len(items)} {noun}: {_show(items)}")
        arch: list[int] = []
        problems: list[str] = []
        for i, (item, allowed) in enumerate(zip(items, self.positions, strict=True)):
            where = f"position {i + 1} ({self.position_names[i]})"
            value: int | None = None
            if _is_integer(item):
                value = int(item)  # type: ignore[call-overload]
            elif isinstance(item, float | np.floating) and float(item).is_integer():
                value = int(item)
            if value is None:
                problems.append(f"{where} must be an integer, one of {_join(allowed)}; got {_show(item)}")
            elif value not in self._option_of[i]:
                problems.append(f"{where} must be one of {_join(allowed)}; got {value}")
            else:
                arch.append(value)
        if problems:
            raise InvalidArchitecture("; ".join(problems))
        return tuple(arch)

    def parse(self, value: object) -> Arch:
        """Read an architecture from a list/tuple of ints, a JSON list text or a benchmark key."""
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    decoded = json.loads(text)
                except json.JSONDecodeError:
                    raise InvalidArchitecture(
                        f"could not read {_show(text)} as a JSON list; {self._expected()}"
                    ) from None
                return self.validate(decoded)
            arch = self._parse_key(text)
            if arch is None:
                raise InvalidArchitecture(f"could not read an architecture from {_show(text)}; {self._expected()}")
            return arch
        return self.validate(value)  # type: ignore[arg-type]  # validate rejects non-sequences itself

    def _options(self, arch: Arch) -> list[int]:
        """Option indices of ``arch``; validates (with the model-facing message) only when it is bad."""
        try:
            if len(arch) != len(self.positions):
                raise KeyError(len(arch))
            return [self._option_of[i][v] for i, v in enumerate(arch)]
        except (KeyError, TypeError):
            self.validate(arch)  # raises the precise message
            raise  # pragma: no cover - validate accepted what the fast path rejected (unhashable?)

    def index(self, arch: Arch) -> int:
        """Mixed-radix index ``0..size-1`` of ``arch`` (position 0 most significant)."""
        return sum(o * w for o, w in zip(self._options(arch), self._weights, strict=True))

    def from_index(self, index: int) -> Arch:
        """The architecture at ``index``; inverse of :meth:`index`."""
        if not _is_integer(index) or not 0 <= int(index) < self.size:
            raise ValueError(f"index must be an integer in 0..{self.size - 1}; got {index!r}")
        rest = int(index)
        values = []
        for allowed, weight in zip(self.positions, self._weights, strict=True):
            option, rest = divmod(rest, weight)
            values.append(allowed[option])
        return tuple(values)

    def option_codes(self) -> np.ndarray:
        """(size, n) array of the option index of every position, row = architecture index."""
        import numpy as np  # lazily (module docstring)

        radices = [len(p) for p in self.positions]
        grids = np.unravel_index(np.arange(self.size), radices)  # C order = position 0 most significant
        return np.stack(grids, axis=1).astype(np.int64)

    def all_keys(self) -> list[str]:
        """The table key of every architecture, in index order."""
        return [self.key(self.from_index(i)) for i in range(self.size)]

    def neighbours(self, arch: Arch) -> list[Arch]:
        """Every architecture that differs from ``arch`` in exactly one position."""
        self._options(arch)
        out: list[Arch] = []
        for i, allowed in enumerate(self.positions):
            for v in allowed:
                if v != arch[i]:
                    out.append((*arch[:i], v, *arch[i + 1 :]))
        return out

    # ---- benchmark ------------------------------------------------------------------------------

    def data_available(self) -> bool:
        """Whether the benchmark table is present locally (never downloads)."""
        return find_data_file(self.table_file, self.location) is not None

    def table(self) -> BenchmarkTable:
        """The whole benchmark as arrays indexed by :meth:`index` (read once, then kept)."""
        table = self._table
        if table is None:
            with self._lock:
                if self._table is None:
                    self._table = self._load_table()
                table = self._table
        return table

    def lookup(self, arch: Arch) -> Evaluation:
        """The benchmark's record of ``arch`` (O(1) once the table is loaded)."""
        i = self.index(arch)
        t = self.table()
        return Evaluation(
            accuracy=float(t.accuracy[i]),
            test_accuracy=float(t.test_accuracy[i]),
            rank=int(t.strict_rank[i]),
            paper_rank=None if t.paper_rank is None else int(t.paper_rank[i]),
            params=None if t.params is None else int(t.params[i]),
            flops=None if t.flops is None else int(t.flops[i]),
            source="table",
        )

    def optimum(self) -> tuple[Arch, Evaluation]:
        """The best architecture by the searched metric (ties: lowest index) and its record."""
        import numpy as np  # lazily (module docstring)

        best = self.from_index(int(np.argmax(self.table().accuracy)))  # argmax returns the first maximum
        return best, self.lookup(best)

    def answer_schema(self) -> dict[str, Any]:
        """JSON schema of an answer: an array of exactly N integers, item i one of ``positions[i]``."""
        n = len(self.positions)
        return {
            "type": "array",
            "description": f"{self.value_kind} for {self.position_names[0]}..{self.position_names[-1]}, in order",
            "prefixItems": [
                {"type": "integer", "enum": list(allowed), "description": name}
                for allowed, name in zip(self.positions, self.position_names, strict=True)
            ],
            "minItems": n,
            "maxItems": n,
        }

    def describe(self) -> str:
        """A short neutral summary: benchmark, size, positions and their allowed values, metrics."""
        lines = [
            f"{self.name}: {self.benchmark}, {self.size} architectures",
            f"answer: a list of {len(self.positions)} {self.value_kind}",
        ]
        for name, allowed in zip(self.position_names, self.positions, strict=True):
            lines.append(f"  {name}: {_join(allowed)}")
        if self.value_names:
            lines.append("values: " + ", ".join(f"{k} = {v}" for k, v in sorted(self.value_names.items())))
        lines.append(f"searched: {self.searched_metric}; reported: {self.reported_metric}")
        return "\n".join(lines)

    # ---- helpers for loaders --------------------------------------------------------------------

    def _read_json(self) -> tuple[str, dict[str, Any]]:
        path = resolve_data_file(self.table_file, self.location)
        try:
            with path.open("rb") as fh:
                data = json.load(fh)
        except (OSError, ValueError) as exc:
            raise DataFileError(
                f"cannot read benchmark table {path}: {exc}; replace it with the original "
                f"{self.table_file} (see shared/benchmarks READMEs) or delete it from the cache to re-download"
            ) from exc
        if not isinstance(data, dict):
            raise DataFileError(f"benchmark table {path} is not a JSON object; replace it with the original")
        return str(path), data

    def _indices_of(self, keys: Sequence[str], source: str) -> np.ndarray:
        """Architecture index of every table key; the table must hold each architecture exactly once."""
        import numpy as np  # lazily (module docstring)

        index_of = dict(zip(self.all_keys(), range(self.size), strict=True))
        try:
            idx = np.fromiter((index_of[k] for k in keys), dtype=np.int64, count=len(keys))
        except KeyError as exc:
            raise DataFileError(
                f"benchmark table {source} has an unexpected key {exc}; replace it with the original"
            ) from None
        if len(keys) != self.size:  # keys of a JSON object are distinct, so count == size means all present
            raise DataFileError(
                f"benchmark table {source} has {len(keys)} architectures, expected {self.size}; "
                "replace it with the original"
            )
        return idx

    def _scatter(self, idx: np.ndarray, values: Any, dtype: type) -> np.ndarray:
        import numpy as np  # lazily (module docstring)

        out: np.ndarray = np.empty(self.size, dtype=dtype)
        out[idx] = np.fromiter(values, dtype=dtype, count=len(idx))
        return _frozen(out)

    def _column(
        self, idx: np.ndarray, rows: Sequence[Any], field: str, dtype: type, source: str
    ) -> np.ndarray:
        """``row[field]`` of every table row, placed at its architecture index."""
        try:
            return self._scatter(idx, (row[field] for row in rows), dtype)
        except (KeyError, TypeError, ValueError) as exc:
            raise DataFileError(
                f"benchmark table {source} has no usable field {field!r} ({exc!r}); replace it with the original"
            ) from exc

    def _read_paper_ranks(self, rank_column: str = "genius_rank") -> np.ndarray | None:
        """The optional ``ranks*.csv`` column ``genius_rank`` by index, or None when the file is absent."""
        import numpy as np  # lazily (module docstring)

        if self.ranks_file is None:
            return None
        path = find_data_file(self.ranks_file, self.location)
        if path is None:
            return None
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
            header = lines[0].split(",")
            key_col, rank_col = header.index("arch"), header.index(rank_column)
            rows = [line.split(",") for line in lines[1:] if line]
            idx = self._indices_of([r[key_col] for r in rows], str(path))
            return self._scatter(idx, (int(r[rank_col]) for r in rows), np.int64)
        except (OSError, IndexError, ValueError) as exc:
            raise DataFileError(
                f"cannot read the ranks file {path}: {exc}; it is optional: delete it or restore the original"
            ) from exc

    def _make_table(
        self,
        accuracy: np.ndarray,
        test_accuracy: np.ndarray,
        *,
        params: np.ndarray | None = None,
        flops: np.ndarray | None = None,
        paper_rank: np.ndarray | None = None,
    ) -> BenchmarkTable:
        return BenchmarkTable(
            accuracy=accuracy,
            test_accuracy=test_accuracy,
            strict_rank=_frozen(strict_ranks(test_accuracy)),
            params=params,
            flops=flops,
            paper_rank=paper_rank,
        )
