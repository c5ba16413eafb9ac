"""Drive the orchestrator service with Locust itself.

    orchestrator serve --port 8080 &
    ORCHESTRATOR_SECRET=orchestrator-dev-secret \
        locust -f orchestrator/locustfile.py --host http://127.0.0.1:8080 \
        --headless -u 10 -r 2 -t 2m --csv run

Tokens are `v1.USER.HEX(HMAC-SHA256(secret, "v1.USER"))`, as `orchestrator token USER` prints
them; each session uses a fresh user so the per-user limits (10/day, 3 open) do not stop a user.
"""

import hashlib
import hmac
import os
import uuid

from locust import HttpUser, between, task

SECRET = os.environ.get("ORCHESTRATOR_SECRET", "orchestrator-dev-secret").encode()
TURNS = int(os.environ.get("ORCHESTRATOR_TURNS", "15"))


def token(user: str) -> str:
    payload = f"v1.{user}"
    return f"{payload}.{hmac.new(SECRET, payload.encode(), hashlib.sha256).hexdigest()}"


class ImprovUser(HttpUser):
    wait_time = between(1, 3)

    def auth(self, user):
        return {"Authorization": f"Bearer {token(user)}"}

    @task(9)
    def session(self):
        user = f"locust-{uuid.uuid4().hex[:12]}"
        headers = self.auth(user)
        with self.client.post("/api/v1/session/start", json={"user_name": user}, headers=headers,
                              name="/api/v1/session/start", catch_response=True) as r:
            if r.status_code != 201:
                r.failure(f"start: {r.status_code}")
                return
            sid = r.json()["session_id"]
        for _ in range(4):
            r = self.client.post(f"/api/v1/session/{sid}/welcome", json={"user_input": "a lighthouse"},
                                 headers=headers, name="/api/v1/session/[id]/welcome")
            if r.status_code != 200:
                break
        for n in range(1, TURNS + 1):
            r = self.client.post(f"/api/v1/session/{sid}/turn",
                                 json={"user_input": f"Yes, and turn {n} brings a twist", "turn_number": n},
                                 headers=headers, name="/api/v1/session/[id]/turn")
            if r.status_code != 200:
                break
        self.client.post(f"/api/v1/session/{sid}/close", json={}, headers=headers,
                         name="/api/v1/session/[id]/close")

    @task(1)
    def limits(self):
        self.client.get("/api/v1/user/limits", headers=self.auth(f"locust-{uuid.uuid4().hex[:12]}"),
                        name="/api/v1/user/limits")
