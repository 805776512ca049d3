def test_smoke(run, kube):
    kube.healthy()
    r = run("deploy", "dev")
    print(r.stdout); print(r.stderr)
    for c in kube.commands(): print(c)
    assert 0
