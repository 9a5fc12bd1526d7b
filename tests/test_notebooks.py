"""Every notebook in notebooks/ executes headless, top to bottom, on its small configuration.

Notebooks read ``JAXREC_SMALL=1`` and shrink their sizes. The four whose small configuration is
still dominated by compiling (01: four policies and a vmapped beta sweep; 02: CPO, PPO-Lagrangian
and the long run; 03: four FM models over seeds; 06: the closed loop with and without a policy;
one to five minutes each on two cores) are marked slow; what they call is covered by the
simulation, agents', models', experiments' and closed-loop tests in CI.
"""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
SLOW = {"01_matthew_effect", "02_fcpo", "03_aafm", "06_marketplace"}
NOTEBOOKS = [
    pytest.param(path, id=path.stem, marks=[pytest.mark.slow] if path.stem in SLOW else [])
    for path in sorted(NOTEBOOK_DIR.glob("*.ipynb"))
]


def test_the_slow_notebooks_exist():
    assert SLOW <= {path.stem for path in NOTEBOOK_DIR.glob("*.ipynb")}


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_notebook_executes(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("JAXREC_SMALL", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors, errors
