class IdConverter:
    """A positive database id; numbers beyond a 64-bit key never match, so they are a 404."""

    regex = "[0-9]{1,19}"
    max_id = 2**63 - 1

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 0 < number <= self.max_id:
            raise ValueError("id out of range")
        return number

    def to_url(self, value: int) -> str:
        return str(value)
