"""Start moto's server with a few patches that make its EC2 behave like real EC2.

Usage: python moto_launcher.py <host> <port>     (the harness always passes 127.0.0.1)

Only the emulator is patched; production code runs unchanged against it. Each patch exists because
moto differs from real EC2 in a way the fleet janitor depends on:

1. Wildcards in name filters. Real EC2 filter values accept `*` (any run of characters) and `?`
   (exactly one character), case-sensitively, with `\\` escaping a literal `*`, `?` or `\\`; every
   other character (`[`, `.`, ...) is literal. moto instead
   - DescribeInstances `key-name`: compares for equality, so `packer_*` matches nothing;
   - DescribeKeyPairs `key-name`: uses fnmatch, which also treats `[...]` as a character class
     and has no backslash escape;
   - DescribeSecurityGroups `group-name`: turns the value into a regex unescaped, so `?` matches
     zero or one character and `.` matches anything.
   All three are routed through `ec2_wildcard_match` below.

2. Fixture-only tags that set the past. moto stamps every resource with "now", and its API has no
   way to say "this instance was launched three days ago". The harness passes the past as tags that
   this launcher removes before moto stores them, so the code under test never sees them:
   - `moto-fixture:launch-time`  (RunInstances, ISO 8601)  -> the instance's LaunchTime;
   - `moto-fixture:stopped-time` (RunInstances, ISO 8601)  -> the time written into
     StateTransitionReason when the instance is later stopped;
   - `moto-fixture:create-time`  (CreateKeyPair / ImportKeyPair, ISO 8601) -> the key pair's CreateTime.

3. StateTransitionReason format. Real EC2 writes "User initiated (2024-05-01 12:34:56 GMT)"
   when an instance is stopped or terminated; moto writes "... UTC)". The handler reads the stop
   time from that text, so the launcher writes the real format.

moto's internals move between releases: every hook is checked before it is replaced, and a missing
one stops the launcher with a message naming it rather than silently serving unpatched behaviour.
"""

import datetime
import functools
import os
import re
import sys
import threading

import moto
import moto.ec2.models.instances as ec2_instances
import moto.ec2.models.key_pairs as ec2_key_pairs
import moto.ec2.models.security_groups as ec2_security_groups
import moto.ec2.utils as ec2_utils
from moto.core.utils import utcnow
from moto.ec2.exceptions import InvalidParameterValueError

FIXTURE_LAUNCH_TIME = "moto-fixture:launch-time"
FIXTURE_STOPPED_TIME = "moto-fixture:stopped-time"
FIXTURE_CREATE_TIME = "moto-fixture:create-time"


def require_hook(owner, name):
    """Fail loudly when a moto release no longer has the function a patch replaces."""
    if not hasattr(owner, name):
        sys.exit(
            f"moto_launcher: moto {moto.__version__} has no {getattr(owner, '__name__', owner)}.{name}; "
            "the emulator patches need updating for this moto version"
        )
    return getattr(owner, name)


# ---- 1. EC2 wildcard semantics ------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _wildcard_regex(pattern):
    parts = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            parts.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        else:
            parts.append(re.escape(char))
        i += 1
    return re.compile("".join(parts), re.DOTALL)


def ec2_wildcard_match(pattern, value):
    if value is None:
        return False
    return _wildcard_regex(str(pattern)).fullmatch(str(value)) is not None


def matches_any(patterns, value):
    if isinstance(patterns, str):
        patterns = [patterns]
    return any(ec2_wildcard_match(p, value) for p in patterns)


def patch_instance_key_name_filter():
    # filter_reservations looks passes_filter_dict up in moto.ec2.utils' globals on every call.
    original = require_hook(ec2_utils, "passes_filter_dict")

    def passes_filter_dict(instance, filter_dict):
        if "key-name" not in filter_dict:
            return original(instance, filter_dict)
        if not matches_any(filter_dict["key-name"], getattr(instance, "key_name", None)):
            return False
        rest = {k: v for k, v in filter_dict.items() if k != "key-name"}
        return original(instance, rest)

    ec2_utils.passes_filter_dict = passes_filter_dict


def patch_key_pair_name_filter():
    # describe_key_pairs calls the generic_filter it imported into its own module.
    original = require_hook(ec2_key_pairs, "generic_filter")

    def generic_filter(filters, objects):
        if not filters or "key-name" not in filters:
            return original(filters, objects)
        objects = [o for o in objects if matches_any(filters["key-name"], o.key_name)]
        rest = {k: v for k, v in filters.items() if k != "key-name"}
        return original(rest, objects) if rest else objects

    ec2_key_pairs.generic_filter = generic_filter


def patch_security_group_name_filter():
    # SecurityGroup.__init__ binds self.filter_group_name into its filter table, so replacing the
    # class attribute covers every group created after this (default groups are created lazily).
    require_hook(ec2_security_groups.SecurityGroup, "filter_group_name")

    def filter_group_name(self, values):
        return matches_any(values, self.group_name)

    ec2_security_groups.SecurityGroup.filter_group_name = filter_group_name


# ---- 2. fixture tags that set the past ----------------------------------------------------------


def parse_fixture_time(tag_key, value):
    """ISO 8601 -> naive UTC datetime, the type moto.core.utils.utcnow() returns."""
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidParameterValueError(f"{tag_key}={value} (expected ISO 8601)")
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return parsed


def pop_fixture_tag(tags_by_resource_type, tag_key):
    """Remove a fixture tag from every resource type of a parsed TagSpecifications; return its value."""
    value = None
    for tags in (tags_by_resource_type or {}).values():
        if tag_key in tags:
            value = tags.pop(tag_key)
    return value


def patch_run_instances_fixture_times():
    backend = ec2_instances.InstanceBackend
    original = require_hook(backend, "run_instances")

    def run_instances(self, image_id, count, user_data, security_group_names, **kwargs):
        tags = kwargs.get("tags") or {}
        launch_time = pop_fixture_tag(tags, FIXTURE_LAUNCH_TIME)
        stopped_time = pop_fixture_tag(tags, FIXTURE_STOPPED_TIME)
        launch_at = parse_fixture_time(FIXTURE_LAUNCH_TIME, launch_time) if launch_time else None
        stopped_at = parse_fixture_time(FIXTURE_STOPPED_TIME, stopped_time) if stopped_time else None
        reservation = original(self, image_id, count, user_data, security_group_names, **kwargs)
        for instance in reservation.instances:
            if launch_at is not None:
                instance.launch_time = launch_at
            if stopped_at is not None:
                instance.fixture_stopped_time = stopped_at
        return reservation

    backend.run_instances = run_instances


def patch_key_pair_fixture_create_time():
    backend = ec2_key_pairs.KeyPairBackend

    def with_create_time(original):
        def create(self, name, key_type_or_material, tags):
            tags = dict(tags or {})
            create_time = tags.pop(FIXTURE_CREATE_TIME, None)
            created_at = parse_fixture_time(FIXTURE_CREATE_TIME, create_time) if create_time else None
            key_pair = original(self, name, key_type_or_material, tags)
            if created_at is not None:
                key_pair.create_time = created_at
            return key_pair

        return create

    backend.create_key_pair = with_create_time(require_hook(backend, "create_key_pair"))
    backend.import_key_pair = with_create_time(require_hook(backend, "import_key_pair"))


# ---- 3. StateTransitionReason as real EC2 writes it ---------------------------------------------


def user_initiated_reason(at):
    return f"User initiated ({at.strftime('%Y-%m-%d %H:%M:%S')} GMT)"


def patch_state_transition_reason():
    instance_class = ec2_instances.Instance
    original_stop = require_hook(instance_class, "stop")
    original_terminate = require_hook(instance_class, "terminate")

    def stop(self):
        previous = original_stop(self)
        self._reason = user_initiated_reason(getattr(self, "fixture_stopped_time", None) or utcnow())
        return previous

    def terminate(self):
        previous = original_terminate(self)
        self._reason = user_initiated_reason(utcnow())
        return previous

    instance_class.stop = stop
    instance_class.terminate = terminate
    if not isinstance(getattr(instance_class, "state_transition_reason", None), property):
        sys.exit("moto_launcher: Instance.state_transition_reason is no longer a property over _reason")


# ---- server --------------------------------------------------------------------------------------


def exit_when_parent_goes_away():
    """The harness keeps our stdin open; EOF means it died without stopping us (e.g. SIGKILL)."""

    def watch():
        # os.read on the raw fd: a thread blocked in sys.stdin's buffered reader holds its lock and
        # delays interpreter shutdown after SIGTERM by about a second.
        try:
            while os.read(0, 4096):
                pass
        finally:
            os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: moto_launcher.py <host> <port>")
    host, port = argv
    patch_instance_key_name_filter()
    patch_key_pair_name_filter()
    patch_security_group_name_filter()
    patch_run_instances_fixture_times()
    patch_key_pair_fixture_create_time()
    patch_state_transition_reason()

    if os.environ.get("MOTO_LAUNCHER_WATCH_STDIN") == "1":
        exit_when_parent_goes_away()

    # moto's request log (one line per call) is noise for tests; keep warnings and errors.
    if os.environ.get("MOTO_LAUNCHER_VERBOSE") != "1":
        import logging

        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    from moto.server import main as moto_server_main

    moto_server_main(["--host", host, "--port", port])


if __name__ == "__main__":
    main(sys.argv[1:])
