import orjson
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

_fallback = JSONEncoder()


class FastJSONRenderer(JSONRenderer):
    """JSON through orjson (several times faster than the stdlib encoder on list pages).

    Types orjson does not know (lazy translation strings, Decimal) go through DRF's encoder.
    An indent asked for (the browsable API, or `Accept: application/json; indent=4`) gives
    orjson's two-space indentation, its only one.
    """

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        indent = self.get_indent(accepted_media_type, renderer_context or {})
        option = orjson.OPT_INDENT_2 if indent else 0
        return orjson.dumps(data, default=_fallback.default, option=option)
