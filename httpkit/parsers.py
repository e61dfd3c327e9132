import orjson
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class FastJSONParser(JSONParser):
    """JSON through orjson.

    The stdlib parser raises RecursionError (a 500) on deeply nested documents and lets lone
    surrogates through to the database; orjson refuses both (nesting deeper than 1024 levels,
    invalid UTF-8), so they are a 400 like any other malformed body.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read()
        encoding = ((parser_context or {}).get("encoding") or "utf-8").lower()
        try:
            if encoding not in ("utf-8", "utf8"):
                raw = raw.decode(encoding).encode()
            return orjson.loads(raw)
        except (orjson.JSONDecodeError, UnicodeError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
