"""The rules of docs/ARCHITECTURE.md that a tool can check: the import contracts
(import-linter, configured in pyproject.toml) and the one writer of a shipment's status."""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The only places a shipment's status is written: ``transition``'s ``_apply``, and the
#: row intake creates (every shipment starts ``created``).
STATUS_WRITERS = {("app/orders/shipments.py", "_apply"), ("app/orders/intake.py", "_prepare")}


def _status_writes(path: Path):
    """(function, line) of each write of a shipment's status in a file: ``x.status = ``
    where x names a shipment, ``update(Shipment).values(status=...)``, and a
    ``"status"`` key in a shipment's row."""
    tree = ast.parse(path.read_text(), str(path))
    found = []

    def visit(node, function):
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                targets = child.targets if isinstance(child, ast.Assign) else [child.target]
                for target in targets:
                    for t in ast.walk(target):
                        if (isinstance(t, ast.Attribute) and t.attr == "status"
                                and "shipment" in ast.unparse(t.value).lower()):
                            found.append((function, child.lineno))
            if isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute) and child.func.attr == "values":
                if "Shipment" in ast.unparse(child.func.value) and (
                        any(k.arg == "status" for k in child.keywords)
                        or any(isinstance(a, ast.Dict) and "'status'" in ast.unparse(a) for a in child.args)):
                    found.append((function, child.lineno))
            if isinstance(child, ast.Dict) and any(isinstance(k, ast.Constant) and k.value == "shipment"
                                                   for k in child.keys):
                row = child.values[[getattr(k, "value", None) for k in child.keys].index("shipment")]
                if isinstance(row, ast.Dict) and any(getattr(k, "value", None) == "status" for k in row.keys):
                    found.append((function, child.lineno))
            visit(child, name)

    visit(tree, None)
    return found


def test_no_code_outside_the_lifecycle_writes_a_shipments_status():
    writes = {(str(p.relative_to(ROOT)), function, line)
              for base in ("app", "workers") for p in (ROOT / base).rglob("*.py")
              for function, line in _status_writes(p)}
    assert {(path, function) for path, function, _ in writes} == STATUS_WRITERS, sorted(writes)


def test_the_finder_finds_each_way_of_writing_a_status(tmp_path):
    """The check above would pass on a finder that finds nothing: it must find these."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def a(shipment):\n    shipment.status = 'delivered'\n"
        "def b(session):\n    session.execute(update(Shipment).values(status='lost'))\n"
        "def c():\n    rows = {'shipment': {'status': 'created'}}\n"
        "def d(bag):\n    bag.status = 'open'\n")
    assert [f for f, _ in _status_writes(sample)] == ["a", "b", "c"]


def test_the_import_contracts_hold():
    """surfaces → modules → kernel; app never imports workers (pyproject.toml)."""
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    result = subprocess.run([lint or "lint-imports", "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def _shipment_writes(path: Path, own_columns: set[str]):
    """Lines of a file that write the shipments table: a statement on ``Shipment`` (update,
    insert, delete, its ``__table__``), or an assignment to an attribute that only a
    shipment has, or to any attribute of something named a shipment."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func) in ("update", "insert", "delete") and any(
                ast.unparse(a) == "Shipment" for a in node.args):
            found.append(node.lineno)
        if isinstance(node, ast.Attribute) and node.attr == "__table__" and ast.unparse(node.value) == "Shipment":
            found.append(node.lineno)
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in (t for target in targets for t in ast.walk(target)):
                if isinstance(t, ast.Attribute) and isinstance(t.ctx, ast.Store) and (
                        t.attr in own_columns or "shipment" in ast.unparse(t.value).lower()):
                    found.append(node.lineno)
    return sorted(found)


def test_only_app_orders_writes_the_shipments_table():
    from app import models  # noqa: F401  (every model mapped)
    from app.db import Base
    from app.orders.models import Shipment

    others = {c.name for t in Base.metadata.tables.values() if t.name != "shipments" for c in t.columns}
    own = {c.name for c in Shipment.__table__.columns} - others
    assert {"linehaul_trip_id", "not_before", "delivery_code", "held_from"} <= own
    writes = [(str(p.relative_to(ROOT)), line)
              for base in ("app", "workers") for p in (ROOT / base).rglob("*.py")
              if not str(p.relative_to(ROOT)).startswith("app/orders/")
              for line in _shipment_writes(p, own)]
    assert writes == []


def test_the_shipment_write_finder_finds_each_way(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def a(s):\n    s.linehaul_trip_id = 3\n"
        "def b(session):\n    session.execute(update(Shipment).values(run_sheet_id=None))\n"
        "def c(shipment):\n    shipment.anything = 1\n"
        "def d(stop):\n    stop.loaded_at = 1\n")
    assert _shipment_writes(sample, {"linehaul_trip_id"}) == [2, 4, 6]
