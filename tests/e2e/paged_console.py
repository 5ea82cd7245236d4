"""The console with `[broker] max_rows` set to ROWS, for the paging journey
(tests/e2e/test_customer_data_paging.py): the shipped configuration with that one line
changed, written into the console's own data folder, so nothing tracked is touched.

`launcher(folder)` writes the script Streamlit runs. The console names its pages relative to
the script it was started with (`console/pages/...`), so the launcher's folder gets a link to
the real `console/` beside it."""

from __future__ import annotations

import os
from pathlib import Path

from access.settings.config import DEFAULT_PATH

ROOT = Path(__file__).resolve().parent.parent.parent

ROWS = 2
SHIPPED_LINE = "max_rows = 5000"


def use_paged_config() -> None:
    config = Path(os.environ["GATEHOUSE_DATA_DIR"]) / "gatehouse-paged.toml"
    if not config.exists():
        shipped = DEFAULT_PATH.read_text(encoding="utf-8")
        assert shipped.count(SHIPPED_LINE) == 1, f"config/gatehouse.toml lacks {SHIPPED_LINE!r}"
        config.write_text(shipped.replace(SHIPPED_LINE, f"max_rows = {ROWS}"), encoding="utf-8")
    os.environ["GATEHOUSE_CONFIG"] = str(config)


def launcher(folder: Path) -> Path:
    """A script in `folder` that starts the console with the paged configuration."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "console").symlink_to(ROOT / "console", target_is_directory=True)
    script = folder / "paged_app.py"
    script.write_text("from console.app import main\n"
                      "from tests.e2e.paged_console import use_paged_config\n\n"
                      "use_paged_config()\nmain()\n", encoding="utf-8")
    return script
