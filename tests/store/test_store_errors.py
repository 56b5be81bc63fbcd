def test_a_new_data_folder_and_database_are_the_owners_alone(tmp_path, make_search):
    import stat

    from core.store.runs import Store

    folder = tmp_path / "fresh" / "data"
    store = Store(folder / "studio.db")
    search = make_search()
    search.run(1)
    store.save_tree("r1", search.tree)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("studio.db", "studio.db-wal", "studio.db-shm"):
        if (folder / name).exists():
            assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name


def test_an_open_database_of_ours_is_tightened_to_0600(tmp_path):
    import stat

    from core.store.runs import Store

    path = tmp_path / "studio.db"
    Store(path)
    path.chmod(0o644)
    Store(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
