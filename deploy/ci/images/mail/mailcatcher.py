"""A mail catcher: SMTP on port 1025 stores each message, HTTP on port 8025 lists them.

The HTTP side answers the part of mailpit's API that a test needs:
    GET /api/v1/messages       {"total": n, "messages": [{"ID", "From", "To", "Subject", "Created"}]}
    GET /api/v1/message/<ID>   the same fields plus "Text" (the plain-text body)
newest first, as mailpit lists them.
"""

import email
import email.policy
import email.utils
import json
import threading
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

MESSAGES: list[dict] = []
LOCK = threading.Lock()


def address(text: str) -> dict:
    name, addr = email.utils.parseaddr(text or "")
    return {"Name": name, "Address": addr}


class Catcher:
    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = parsed.get_body(preferencelist=("plain",))
        message = {
            "ID": uuid.uuid4().hex,
            "From": address(parsed["From"]),
            "To": [address(to) for to in envelope.rcpt_tos],
            "Subject": str(parsed["Subject"] or ""),
            "Created": datetime.now(UTC).isoformat(),
            "Text": body.get_content() if body is not None else "",
        }
        with LOCK:
            MESSAGES.insert(0, message)
        print(f"caught {message['ID']} to {envelope.rcpt_tos}: {message['Subject']}")
        return "250 Message accepted for delivery"


class Api(BaseHTTPRequestHandler):
    def do_GET(self):
        with LOCK:
            messages = list(MESSAGES)
        if self.path.rstrip("/") == "/api/v1/messages":
            summaries = [{key: value for key, value in item.items() if key != "Text"} for item in messages]
            return self.answer(200, {"total": len(messages), "messages": summaries})
        if self.path.startswith("/api/v1/message/"):
            wanted = self.path.removeprefix("/api/v1/message/")
            for item in messages:
                if item["ID"] == wanted:
                    return self.answer(200, item)
        return self.answer(404, {"error": "not found"})

    def answer(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


if __name__ == "__main__":
    smtp = Controller(Catcher(), hostname="0.0.0.0", port=1025)  # noqa: S104 (inside its container)
    smtp.start()
    print("SMTP on :1025, HTTP on :8025")
    ThreadingHTTPServer(("0.0.0.0", 8025), Api).serve_forever()  # noqa: S104
