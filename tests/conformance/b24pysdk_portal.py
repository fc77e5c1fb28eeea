"""Conformance of the simulated portal and OAuth server with the official Bitrix24 Python SDK
(b24pysdk, a real client nobody here wrote): the code exchange, a refresh, and app-context
calls (imconnector.register/activate/send.messages, event.bind, event.offline.get, batch)
go through the SDK's own requesters and response parsers. What the SDK rejects, a real
portal would not have sent.

The SDK hard-codes https:// and Bitrix's OAuth host; the simulator speaks plain HTTP on
loopback, so exactly those two URL builders are pointed at it. Nothing else is patched.

Environment: SIM_BASE (http://127.0.0.1:port), CLIENT_ID, CLIENT_SECRET, CODE.
Prints one line per check; exits non-zero on the first failure.
"""

import importlib
import os
import sys

from b24pysdk.api.requesters.bitrix_oauth_requester import BitrixOAuthRequester
from b24pysdk.credentials import BitrixAppLocal, BitrixTokenLocal

base = os.environ["SIM_BASE"].rstrip("/")
domain = base.split("://", 1)[1]

# The two URL builders that assume the cloud (see the module docstring).
BitrixOAuthRequester._OAUTH_TOKEN_URL = f"{base}/oauth/token/"
importlib.import_module("b24pysdk.api.callers.call_method")._MethodCaller._base_url = property(
    lambda self: f"http://{self._domain}/rest"
)


def check(what, ok, detail=""):
    print(f"{'ok' if ok else 'FAIL'} {what} {detail}".rstrip())
    if not ok:
        sys.exit(1)


app = BitrixAppLocal(
    domain=domain, client_id=os.environ["CLIENT_ID"], client_secret=os.environ["CLIENT_SECRET"]
)
token = BitrixTokenLocal(auth_token="none", bitrix_app=app)

renewed = token.get_oauth_token(code=os.environ["CODE"])
oauth = renewed.oauth_token
check("code exchange parsed", bool(oauth.access_token and oauth.refresh_token))
token = BitrixTokenLocal(
    auth_token=oauth.access_token, refresh_token=oauth.refresh_token, bitrix_app=app
)
first_refresh = oauth.refresh_token

token.refresh_and_set_oauth_token()
check("refresh rotated both tokens", token.refresh_token != first_refresh)

profile = token.call_method("profile")
check("profile", profile["result"]["ADMIN"] is True, str(profile["result"].get("ID")))

registered = token.call_method(
    "imconnector.register",
    {
        "ID": "chat2desk",
        "NAME": "Chat2Desk",
        "ICON": {"DATA_IMAGE": "data:image/svg+xml,%3Csvg%2F%3E"},
        "PLACEMENT_HANDLER": "https://c2d.corp.lan/bitrix24/connector",
    },
)
check("imconnector.register", registered["result"] == {"result": True})

activated = token.call_method("imconnector.activate", {"CONNECTOR": "chat2desk", "LINE": 3, "ACTIVE": 1})
check("imconnector.activate", activated["result"] is True)

sent = token.call_method(
    "imconnector.send.messages",
    {
        "CONNECTOR": "chat2desk",
        "LINE": 3,
        "MESSAGES": [
            {
                "user": {"id": "c2d-client-5512", "name": "Иван"},
                "message": {"id": "c2d-msg-1", "date": 1773265993, "text": "Добрый день"},
                "chat": {"id": "c2d-client-5512"},
            }
        ],
    },
)
result = sent["result"]
check("imconnector.send.messages", result["SUCCESS"] is True and result["DATA"]["RESULT"][0]["SUCCESS"] is True)

bound = token.call_method(
    "event.bind",
    {"event": "OnImConnectorMessageAdd", "event_type": "offline", "auth_connector": "c2d"},
)
check("event.bind", bound["result"] is True)

events = token.call_method("event.offline.get", {"clear": 0, "limit": 50, "auth_connector": "c2d"})
check("event.offline.get", "events" in events["result"] and "process_id" in events["result"])

batch = token.call_batch(
    {
        "status": ("imconnector.status", {"CONNECTOR": "chat2desk", "LINE": 3}),
        "events": ("event.get", {}),
    }
)
check("batch", "status" in batch["result"]["result"], str(sorted(batch["result"]["result"])))
print("b24pysdk conformance: all checks passed")
