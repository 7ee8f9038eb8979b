"""Unknown dfew.toml keys warn, naming file, table and key, with the closest valid key
(issue 17 item 10)."""

from dfew_build.workspace import CONFIG_NAME, init_workspace, open_workspace


def _edit(ws, old, new):
    path = ws.root / CONFIG_NAME
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


def test_misspelt_and_misplaced_keys_warn(tmp_path):
    ws, _ = init_workspace(tmp_path / "ws")
    assert ws.warnings == []
    path = _edit(ws, "raters_per_clip = 10", "raters_per_clp = 9\nport = 9000\nzzz = 1")
    _edit(ws, "[faces]", "[fcaes]\ndetector = 'mtcnn'\n\n[faces]")
    _edit(ws, "[clips.propose]\n", "[clips.propose]\nscene_treshold = 30.0\n")
    reopened = open_workspace(ws.root)
    assert reopened.warnings == [
        f"warning: {path}: [annotation] unknown key 'raters_per_clp' is ignored; did you mean "
        "raters_per_clip? (see docs/workspace.md)",
        f"warning: {path}: [annotation] unknown key 'port' is ignored; port belongs in "
        "[server] (see docs/workspace.md)",
        f"warning: {path}: [annotation] unknown key 'zzz' is ignored; valid keys here: "
        "gold_rate, order, order_seed, practice_clips, raters_per_clip, require_faces (see "
        "docs/workspace.md)",
        f"warning: {path}: [clips.propose] unknown key 'scene_treshold' is ignored; did you "
        "mean scene_threshold? (see docs/workspace.md)",
        f"warning: {path}: top level: unknown table 'fcaes' is ignored; did you mean [faces]? "
        "(see docs/workspace.md)"]
    # The misspelt key is ignored: the default stands.
    assert reopened.config["annotation"]["raters_per_clip"] == 10
    reopened.close()


def test_top_level_key_in_a_table_and_the_cli_prints_once(cli, tmp_path):
    assert cli("init", tmp_path / "ws").exit_code == 0
    path = tmp_path / "ws" / CONFIG_NAME
    path.write_text(path.read_text().replace("[server]", "[server]\ndatabase_url = ''", 1))
    result = cli("-w", tmp_path / "ws", "movies", "list", "--json")
    assert result.exit_code == 0
    assert result.stderr == (f"warning: {path}: [server] unknown key 'database_url' is "
                             "ignored; database_url belongs at the top level, above the first "
                             "[table] (see docs/workspace.md)\n")
    assert result.stdout.startswith("[")  # --json output stays clean
