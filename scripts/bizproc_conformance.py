#!/usr/bin/env python3
"""Parses every body the PHP activity sent (files *.form in DIR) with the official Bitrix24
Python SDK's REST-activity callback model, b24pysdk.OAuthWorkflowData.from_dict: what the
SDK cannot parse, a real portal would not have sent.

The activity has no OAuth session, so it sends only auth[application_token]; the SDK also
requires the OAuth fields a cloud REST activity carries (access_token, domain, ...). They are
added here, visibly, and only when absent. Exit 0 = every body parsed and matched.

    python3 scripts/bizproc_conformance.py DIR
Tested with b24pysdk==1.3.2 (pip install b24pysdk==1.3.2).
"""
import sys
import pathlib
import urllib.parse

from b24pysdk.credentials import OAuthWorkflowData  # noqa: E402

# The auth[...] fields the SDK's WorkflowOAuth requires and the PHP activity cannot know.
SDK_REQUIRED_AUTH = {
    "auth[access_token]": "not-sent-by-the-activity",
    "auth[refresh_token]": "not-sent-by-the-activity",
    "auth[expires]": "1773269593",
    "auth[expires_in]": "3600",
    "auth[scope]": "bizproc,crm",
    "auth[domain]": "portal.example",
    "auth[server_endpoint]": "https://oauth.bitrix.info/rest/",
    "auth[client_endpoint]": "https://portal.example/rest/",
    "auth[member_id]": "0" * 32,
    "auth[status]": "L",
    "auth[user_id]": "1",
}


def parse(path):
    pairs = urllib.parse.parse_qsl(path.read_text(), keep_blank_values=True)
    flat = {}
    for key, value in pairs:
        # PHP's http_build_query indexes lists (files[0], files[1]); keep every key.
        flat[key] = value
    for key, value in SDK_REQUIRED_AUTH.items():
        flat.setdefault(key, value)
    data = OAuthWorkflowData.from_dict(flat)
    assert data.code == "chat2desk_send", data.code
    assert isinstance(data.document_id, list) and len(data.document_id) == 3, data.document_id
    assert data.document_id[0] == "crm" and data.document_id[2].startswith("LEAD_"), data.document_id
    assert isinstance(data.document_type, list) and len(data.document_type) == 3, data.document_type
    assert data.event_token.count("|") == 2, data.event_token
    assert data.use_subscription is True
    assert data.timeout_duration > 0
    assert data.auth.application_token == flat["auth[application_token]"]
    props = data.properties or {}
    for name in ("channel_id", "phone", "text"):
        assert props.get(name), f"properties[{name}] missing: {props}"
    files = props.get("files", [])
    assert isinstance(files, list), files
    return data


def main():
    folder = pathlib.Path(sys.argv[1])
    bodies = sorted(folder.glob("*.form"))
    if not bodies:
        print(f"FAIL  no captured bodies in {folder}")
        return 1
    for body in bodies:
        data = parse(body)
        print(f"ok    {body.name}: workflow {data.workflow_id}, document {'/'.join(data.document_id)}, "
              f"{len((data.properties or {}).get('files', []))} file(s)")
    print(f"{len(bodies)} body(ies) parsed by b24pysdk OAuthWorkflowData.from_dict")
    return 0


if __name__ == "__main__":
    sys.exit(main())
