"""Settings for the ``group-core`` variant: channels-redis's core layer (lists and sorted
sets, a connection pool) instead of the pub/sub layer we configure."""

from server.settings import *  # noqa: F403
from server.settings import REDIS_URL

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": "talad-bench"},
    }
}
