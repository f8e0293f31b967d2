"""fileio: clean-up that tolerates a concurrent process doing the same."""

from pathlib import Path

from reap_omni.fileio import remove_stale_temps


def test_stale_temp_cleanup_of_a_folder_that_is_gone_is_a_no_op(tmp_path: Path) -> None:
    assert remove_stale_temps(tmp_path / "never-made") == 0  # another process may have removed it meanwhile
    (tmp_path / "a_file").write_text("x")
    assert remove_stale_temps(tmp_path / "a_file") == 0  # not a folder
