async def test_create_queue_task_claim_complete(client):
    resp = await client.post("/api/v1/queues", json={"name": "demo"})
    assert resp.status == 201, await resp.text()
    resp = await client.post(
        "/api/v1/queues/demo/tasks", json={"task_name": "hello", "params": {"a": 1}}
    )
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    resp = await client.post(
        "/api/v1/queues/demo/tasks/claim", json={"limit": 1, "claim_timeout": 30}
    )
    assert resp.status == 200, await resp.text()
    tasks = (await resp.json())["tasks"]
    assert [t["task_id"] for t in tasks] == [created["task_id"]]
    resp = await client.post(f"/api/v1/runs/{tasks[0]['run_id']}/complete")
    assert resp.status == 200, await resp.text()
    assert await resp.json() == {"run_id": tasks[0]["run_id"], "status": "completed"}
