"""The one id of every route and input: a positive integer a 64-bit (bigint) key can hold."""

MAX_ID = 2**63 - 1


class IdConverter:
    """`<id:...>` in a route: ids beyond MAX_ID never match, so they are a 404."""

    regex = f"[0-9]{{1,{len(str(MAX_ID))}}}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 0 < number <= MAX_ID:
            raise ValueError("id out of range")
        return number

    def to_url(self, value: int) -> str:
        return str(value)
