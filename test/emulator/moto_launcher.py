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
   - `moto-fixture:launch-time`  (RunInstances, ISO 8601)  -> the instance's LaunchTime, and the
     AttachTime of the network interfaces attached at launch (EC2 attaches the primary interface
     when the instance launches and keeps that time across stop/start; moto stamps "now");
   - `moto-fixture:stopped-time` (RunInstances, ISO 8601)  -> the time written into
     StateTransitionReason when the instance is later stopped;
   - `moto-fixture:create-time`  (CreateKeyPair / ImportKeyPair, ISO 8601) -> the key pair's CreateTime.

3. StateTransitionReason format. Real EC2 writes "User initiated (2024-05-01 12:34:56 GMT)"
   when an instance is stopped or terminated; moto writes "... UTC)". The handler reads the stop
   time from that text, so the launcher writes the real format.

4. AMIs as real EC2 makes them (the AmiManager tests depend on each):
   - CreateImage: moto raises NotImplementedError for a TagSpecification of ResourceType
     "snapshot" and makes ONE 15 GiB snapshot per image whatever the instance has. The launcher
     makes one snapshot per EBS volume of the instance (size of the volume, the image's block
     device mappings list them), each with the snapshot tags and EC2's description
     "Created by CreateImage(<instance-id>) for <ami-id>"; the "image" tags stay moto's.
     A name already used by one of the account's images is refused with InvalidAMIName.Duplicate,
     as EC2 does (moto accepts it and makes a second image).
   - State: an image is `pending` for the first N DescribeImages calls that name it in ImageIds
     (N = MOTO_AMI_PENDING_DESCRIBES, default 2), then `available`. An instance launched with the
     fixture tag `moto-fixture:ami-fails` (value: the reason) makes images that end `failed` with
     StateReason {Code: Server.InternalError, Message: <value>}; a failed image has no block device
     mappings, but its snapshots are left behind (tagged), as a failed CreateImage can leave them.
   - DeregisterImage DeleteAssociatedSnapshots=true deletes the snapshots in the image's mappings
     (moto ignores the parameter); one still in another image's mappings stays and is reported in
     DeleteSnapshotResults with ReturnCode "error-snapshot-in-use" ("success" for the others).
   - EnableImageDeprecation / DisableImageDeprecation (missing in moto): set or clear the image's
     DeprecationTime, shown by DescribeImages; a time in the past is refused as EC2 does.

   - DescribeSnapshots ignores OwnerIds in moto (so `self` also lists the snapshots of the public
     AMIs moto preloads); the launcher keeps only the snapshots of the listed owners, `self` being
     the caller's account, as EC2 does.

5. Filter values in moto's generic filter (DescribeImages `name`, `tag:<key>`, DescribeSnapshots
   `description`, ...) are matched with fnmatch, so `[` starts a character class: an image name
   such as "web[1]" never matches itself. They use EC2's wildcard semantics of patch 1 instead.

6. Speed only, no behaviour change: moto finds a resource's tags by scanning every tag of the region
   with regular expressions (TagBackend.describe_tags), so a tag filter over n resources costs
   n x (all tags). TaggedEC2Resource.get_tags reads the resource's own entry of the tag table instead,
   with the same result; the AMI property tests (thousands of tagged snapshots) depend on it.

7. CloudTrail LookupEvents (missing in moto: NotImplemented). A stub answers it from events the test
   registered with the launcher-only action `MotoFixturePutLookupEvents` (same endpoint and JSON
   protocol, X-Amz-Target `com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.MotoFixturePutLookupEvents`,
   body {"Events": [<LookupEvents Event>, ...]}, EventTime as ISO 8601 or epoch seconds). LookupEvents
   honours what the real API does with its parameters: one LookupAttribute at most (EventId,
   EventName, ReadOnly, Username, ResourceType, ResourceName, EventSource, AccessKeyId), StartTime /
   EndTime (inclusive; StartTime after EndTime is InvalidTimeRangeException), MaxResults 1-50
   (default 50), NextToken (only valid for the same query), newest event first. Every LookupEvents
   request is recorded; `MotoFixtureLookupEventsCalls` returns them ({"Calls": [{"StartTime", "EndTime",
   "MaxResults", "NextToken", "LookupAttributes", "Returned", "Error", "At"}]}). Events and calls live on the region's
   CloudTrail backend, so POST /moto-api/reset clears them.

8. DescribeInstances address filters missing in moto (it raises NotImplementedError):
   `network-interface.addresses.private-ip-address` (every private IPv4 address of every attached
   interface, secondary ones included) and `network-interface.ipv6-addresses.ipv6-address`. The
   InstanceDecommissioner asks them to find a live instance that took over an address.

9. Terminated instances as EC2 shows them, and their addresses released. moto gives the interface a
   launch creates DeleteOnTermination=false, keeps it attached after TerminateInstances, keeps the
   instance's private address reserved in its subnet until the Python object is garbage-collected
   (a RunInstances asking for that address then fails with an HTTP 500 "IP already in use"), and
   describes a terminated instance with its interfaces, addresses, DNS names, VPC and subnet. EC2
   deletes the interfaces a launch created (DeleteOnTermination=true is their default), releases
   their addresses for reuse, and describes a terminated instance (visible for about an hour) with
   no network interfaces, no private or public address, empty PrivateDnsName / PublicDnsName and no
   VpcId / SubnetId. The launcher does the same (DescribeInstances output only: moto's filters still
   see the old values, and the janitor always filters terminated instances out by state). A
   RunInstances asking for a PrivateIpAddress that an interface holds (primary or secondary) gets
   EC2's error InvalidIPAddress.InUse instead of the 500. Terminating a terminated instance again
   changes nothing (terminated -> terminated), as in EC2.

10. Route 53 change batches checked against the record sets as they are, all or nothing.
    moto checks a DELETE against its journal of every CREATE ever made (so a DELETE of a set that
    is gone, or whose values changed since, succeeds, and a mismatch is reported as InvalidInput
    about a missing TTL), lets a CREATE of an existing set add a second copy, deletes by
    SetIdentifier alone (every set of the zone with that identifier, whatever its name and type),
    and applies a batch change by change, keeping what came before a failing one. Route 53 refuses
    the whole batch with InvalidChangeBatch and a message listing each problem in brackets:
    "[Tried to delete resource record set [name='a.example.com.', type='A'] but it was not found]",
    "... but the values provided do not match the current values", "[Tried to create resource
    record set [...] but it already exists]" (with `, set-identifier='...'` for weighted and other
    routing sets). A DELETE must repeat the set as it is: TTL, values (in any order), weight,
    region, failover, health check, multivalue answer, or the alias target. Names compare case-
    insensitively without the trailing dot.

11. Lambda functions the emulator answers itself (moto runs functions in Docker, absent here). A
    function created with the tag `moto-fixture:hook` (any value) is answered by the launcher: Invoke
    returns the payload `null` (a Node.js handler that returns nothing) with X-Amz-Executed-Version
    $LATEST. The tags it has at the time of each call script failures: `moto-fixture:hook-fails-when`
    = a string; an invocation whose payload contains it fails as the Node.js runtime reports an
    error the handler threw (status 200, X-Amz-Function-Error: Unhandled, payload {"errorType",
    "errorMessage", "trace"}), `moto-fixture:hook-error-type` setting errorType (default "Error");
    `moto-fixture:hook-fails-times` = n makes only the first n such invocations fail (default: all).
    Every invocation of such a function is recorded; GET `/moto-api/fixtures/lambda-invocations`
    returns them, oldest first: {"Invocations": [{"FunctionArn", "FunctionName", "Qualifier",
    "InvocationType", "Payload" (parsed JSON), "FunctionError" (null or "Unhandled"), "At"}]}.
    They live on the region's Lambda backend, so POST /moto-api/reset clears them. Other functions
    keep moto's behaviour.

12. Events EventBridge delivers to a target carry the whole event. moto's default target input
    leaves out `account`; EventBridge delivers {"version", "id", "detail-type", "source",
    "account", "time", "region", "resources", "detail"}, and the launcher adds `account` back.

13. Lambda functions that run a bundle. moto runs functions in Docker (absent here), so Invoke fails.
    Lambda runs the function's code. A function created with the tag `moto-fixture:bundle` = <absolute
    path of a CommonJS index.js exporting `handler`> is run by the launcher: each Invoke starts a fresh
    `node` (MOTO_LAUNCHER_NODE, else node on PATH) on test/emulator/invoke-handler.cjs, the same runner
    run-bundle.ts uses, with the function's Environment variables plus what the Lambda runtime sets
    (AWS_LAMBDA_FUNCTION_NAME, AWS_LAMBDA_FUNCTION_VERSION, AWS_LAMBDA_FUNCTION_MEMORY_SIZE, AWS_REGION),
    dummy credentials and AWS_ENDPOINT_URL = this server (http://<host>:<port> from argv), so the
    handler's SDK clients call the emulator. The process is killed after the function's Timeout (plus
    1 s for node to start and load the bundle, which Lambda does not count). A second tag,
    `moto-fixture:endpoint` = <http://127.0.0.1:port>, replaces that AWS_ENDPOINT_URL: a test that puts a
    recording or fault-injecting proxy (fault-proxy.ts) between the bundle and this server names it there
    (the function's own Environment cannot: Lambda's reserved variables win over it). RequestResponse returns the handler's result as JSON (status 200,
    X-Amz-Executed-Version $LATEST); a thrown error returns the Node.js runtime's error payload
    {"errorType", "errorMessage", "trace"} with X-Amz-Function-Error: Unhandled, a timeout
    {"errorType": "Sandbox.Timedout", "errorMessage": "RequestId: ... Error: Task timed out after
    N.00 seconds"}; LogType=Tail returns the last 4 KB of the process's output in X-Amz-Log-Result.
    Event runs the bundle in the background (202), DryRun runs nothing (204). Every invocation is
    recorded; GET `/moto-api/fixtures/bundle-invocations` returns them, oldest first: {"Invocations":
    [{"FunctionArn", "FunctionName", "Qualifier", "InvocationType", "Payload" (parsed JSON), "Result",
    "Error" (the error payload), "FunctionError" (null or "Unhandled"), "TimedOut", "StartTime",
    "EndTime" (epoch seconds; EndTime null while running)}]}, kept on the region's Lambda backend
    (POST /moto-api/reset clears them).
    moto's Step Functions interpreter (POST /moto-api/config {"stepfunctions": {"execute_state_machine":
    true}}) calls Lambda through boto_client_for, at http://localhost:<MOTO_PORT> (default 5000) with
    access key "ak". moto.server sets MOTO_PORT only when it is unset, so the launcher sets it to its
    own port (an inherited MOTO_PORT would send the interpreter elsewhere), and checks that "ak" maps
    to moto's default account 123456789012, where the harness creates its functions; so Task states
    (`arn:aws:states:::lambda:invoke` or a plain function ARN) run the bundle. Two interpreter gaps
    are filled on the way: StartExecution deep-copies the state machine, and with it its backend and
    executions, whose running interpreters hold locks: once one execution exists in the region, every
    later StartExecution fails with an HTTP 500 ("cannot pickle '_thread.RLock' object"); the copy now
    shares the backend and the executions. And StartExecution without a name makes the execution
    `...:execution:<machine>:None` (a second one with the same input is taken for the first); Step
    Functions names it with a UUID, and so does the launcher.

14. Auto Scaling lifecycle actions. moto has no CompleteLifecycleAction / RecordLifecycleActionHeartbeat
    (NotImplementedError, an HTTP 500) and no lifecycle actions: its groups never wait in
    Terminating:Wait. The test registers the action a lifecycle hook would open with POST
    `/moto-api/fixtures/lifecycle-actions` {"AutoScalingGroupName", "LifecycleHookName", "InstanceId",
    "LifecycleActionToken" (default: a new UUID); optional "HeartbeatTimeout" (seconds) and
    "DefaultResult" (default: the moto hook's, else 3600 and ABANDON), "AccountId", "Region" (default
    123456789012, us-east-1)}, and sends the matching EventBridge event itself. The two actions then
    behave as in AWS (Query protocol): the action is found by LifecycleActionToken, or by InstanceId
    when no token is given, and must belong to the named group and hook; an unknown, completed or
    expired action (no heartbeat within HeartbeatTimeout, or past the global timeout of min(100 x
    HeartbeatTimeout, 48 h)) is refused with HTTP 400 ValidationError "No active Lifecycle Action found
    with token <token>" ("... with instance ID <id>" when found by instance). Complete takes CONTINUE or
    ABANDON (anything else: ValidationError), records it and closes the action; a heartbeat records
    its time and restarts the heartbeat timeout. GET `/moto-api/fixtures/lifecycle-actions` returns
    every action, oldest first: {"LifecycleActions": [{..., "Heartbeats": [epoch seconds],
    "Completion": null or {"Result", "At"}, "Expired": null or {"At", "Result": DefaultResult}}]}.
    The actions live on the account's and region's Auto Scaling backend (POST /moto-api/reset clears them).

15. ECR images as ECR keeps them (the ImageRetention tests depend on each):
    - Moving a tag: a PutImage with a tag another image of a MUTABLE repository holds moves the tag, and
      the other image stays, untagged if that was its last tag (what `docker push` of a new build over
      `:v1` leaves behind). moto deletes that image.
    - BatchDeleteImage names every deleted image in `imageIds`: an untagged image as {imageDigest}. moto
      lists an image once per tag, so a deleted untagged image is in neither imageIds nor failures.
    - BatchDeleteImage refuses an image that an image index (OCI index or Docker manifest list) still in
      the repository lists, as ECR does: failure {imageId, failureCode "ImageReferencedByManifestList",
      failureReason "Requested image referenced by manifest list: [<index digests>]"}, image kept. The
      indexes are those the request finds: an index deleted in the same request still holds its
      children (delete indexes first, their children in a later call). moto deletes the child and
      leaves the index dangling. An id by tag that removes only one of several tags is not refused.
    (moto takes the digest given in PutImage's imageDigest; without one it makes its own, not
    sha256 of the manifest as ECR does, so the tests always pass the manifest's digest.)

16. ECR fixtures: moto stamps imagePushedAt "now" and its API cannot set the past. POST
    `/moto-api/fixtures/ecr-images` {"RepositoryName", "ImageDigest", optional "AccountId", "Region"
    (default 123456789012, us-east-1), "ImagePushedAt" (ISO 8601 or epoch seconds): the image's push
    time, "DeleteFailure": {"FailureCode", "FailureReason"}: from now on BatchDeleteImage refuses that
    image with this failure in `failures` and keeps it (as ECR does per image, e.g. KmsError when the
    repository's KMS key cannot be used); null clears it}. Answers {"ImageDigest", "ImagePushedAt"}.
    Both live on the image and the region's ECR backend (POST /moto-api/reset clears them).

17. ECS task containers as ECS reports them. moto gives a task one container, made from the first
    container definition, without imageDigest. ECS reports one container per definition (name, image),
    each with the `imageDigest` of the image it pulled. The launcher makes one per definition and, for
    an image of an ECR registry in moto (<account>.dkr.ecr.<region>.amazonaws.com/<repo>[:tag][@digest],
    any account), sets imageDigest when the task starts: the digest the reference names, else the
    digest its tag (default `latest`) points to at that moment; a tag moved later leaves it as it was.
    Images of other registries get no imageDigest (moto cannot know it).

18. ECS UpdateService with a new task definition starts a deployment. moto keeps the one deployment it
    made at CreateService (with the old task definition) and stores the new one as given (e.g.
    "web:2", not an ARN). ECS adds a PRIMARY deployment with the new revision's ARN
    (rolloutState IN_PROGRESS) and turns the previous PRIMARY into ACTIVE until its tasks are
    replaced; the launcher does the same (the ACTIVE one stays: moto runs no tasks to replace it),
    and the service's taskDefinition becomes the ARN.

19. A task definition named by family alone means its latest ACTIVE revision (DescribeTaskDefinition,
    RunTask, StartTask, CreateService), as in ECS; none ACTIVE is ClientException "Unable to describe
    task definition.". moto takes the family's last revision whatever its status.

20. A published Lambda version keeps its code. moto's PublishVersion makes a shallow copy of $LATEST,
    so a later UpdateFunctionCode of $LATEST also rewrites the version's Code.ImageUri (its
    ResolvedImageUri digest stays). Lambda versions are immutable; the launcher gives each its own copy.
    (moto resolves an image function's ImageUri against its ECR only with MOTO_LAMBDA_STUB_ECR=false in
    its environment; otherwise ResolvedImageUri holds a hash of the URI, not an image digest.)

21. STS AssumeRole refused. moto lets anyone assume any role (existing or not). A role created in
    moto's IAM with the tag `moto-fixture:deny-assume-role` (any value) cannot be assumed: AssumeRole
    answers HTTP 403 AccessDenied "User: <caller> is not authorized to perform: sts:AssumeRole on
    resource: <role arn>", as STS does when the role's trust policy does not name the caller. Tag or
    untag the role (IAM TagRole / UntagRole in its account) to switch it.

moto's internals move between releases: every hook is checked before it is replaced, and a missing
one stops the launcher with a message naming it rather than silently serving unpatched behaviour.
"""

import copy
import datetime
import functools
import os
import re
import sys
import threading
import time

import moto
import moto.ec2.models.amis as ec2_amis
import moto.ec2.models.elastic_block_store as ec2_ebs
import moto.ec2.models.instances as ec2_instances
import moto.ec2.models.key_pairs as ec2_key_pairs
import moto.ec2.models.security_groups as ec2_security_groups
import moto.ec2.responses.amis as ec2_amis_responses
import moto.ec2.utils as ec2_utils
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.ec2.exceptions import EC2ClientError, InvalidParameterValueError

FIXTURE_LAUNCH_TIME = "moto-fixture:launch-time"
FIXTURE_STOPPED_TIME = "moto-fixture:stopped-time"
FIXTURE_CREATE_TIME = "moto-fixture:create-time"
FIXTURE_AMI_FAILS = "moto-fixture:ami-fails"


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
    # The interfaces' attach time is written by Instance.attach_eni into eni.attach_time.
    require_hook(ec2_instances.Instance, "attach_eni")

    def run_instances(self, image_id, count, user_data, security_group_names, **kwargs):
        tags = kwargs.get("tags") or {}
        launch_time = pop_fixture_tag(tags, FIXTURE_LAUNCH_TIME)
        stopped_time = pop_fixture_tag(tags, FIXTURE_STOPPED_TIME)
        ami_failure = pop_fixture_tag(tags, FIXTURE_AMI_FAILS)
        launch_at = parse_fixture_time(FIXTURE_LAUNCH_TIME, launch_time) if launch_time else None
        stopped_at = parse_fixture_time(FIXTURE_STOPPED_TIME, stopped_time) if stopped_time else None
        reservation = original(self, image_id, count, user_data, security_group_names, **kwargs)
        for instance in reservation.instances:
            if launch_at is not None:
                instance.launch_time = launch_at
                for nic in instance.nics.values():
                    nic.attach_time = launch_at
            if stopped_at is not None:
                instance.fixture_stopped_time = stopped_at
            if ami_failure is not None:
                instance.fixture_ami_failure = ami_failure
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


# ---- 4. AMIs as real EC2 makes them --------------------------------------------------------------


class DuplicateAmiName(EC2ClientError):
    def __init__(self, name, ami_id):
        super().__init__("InvalidAMIName.Duplicate", f"AMI name {name} is already in use by AMI {ami_id}")


class InvalidDeprecationTime(EC2ClientError):
    def __init__(self, message):
        super().__init__("InvalidParameterValue", message)


def pending_describes():
    raw = os.environ.get("MOTO_AMI_PENDING_DESCRIBES", "2")
    try:
        count = int(raw)
    except ValueError:
        sys.exit(f"moto_launcher: MOTO_AMI_PENDING_DESCRIBES must be an integer, got {raw!r}")
    if count < 0:
        sys.exit(f"moto_launcher: MOTO_AMI_PENDING_DESCRIBES must be >= 0, got {count}")
    return count


def ebs_volumes_of(instance):
    """(device name, volume) of each EBS volume attached to the instance, in device order."""
    volumes = []
    for device_name, attachment in sorted(instance.block_device_mapping.items()):
        volume_id = getattr(attachment, "volume_id", None)
        if volume_id is None:
            continue
        volumes.append((device_name, instance.ec2_backend.get_volume(volume_id)))
    return volumes


def patch_create_image():
    backend = ec2_amis.AmiBackend
    original = require_hook(backend, "create_image")
    require_hook(ec2_amis.Ami, "block_device_mappings")
    require_hook(ec2_ebs.EBSBackend, "create_snapshot")
    require_hook(ec2_ebs.EBSBackend, "delete_snapshot")

    def create_image(self, instance_id, name, description, tag_specifications):
        image_specs = []
        snapshot_tags = {}
        for spec in tag_specifications or []:
            if spec.get("ResourceType") == "snapshot":
                for tag in spec.get("Tags", []):
                    snapshot_tags[tag["Key"]] = tag.get("Value", "")
            else:
                image_specs.append(spec)
        instance = self.get_instance(instance_id)
        for existing in self.amis.values():
            if existing.name == name and existing.owner_id == self.account_id:
                raise DuplicateAmiName(name, existing.id)
        ami = original(self, instance_id, name, description, tag_specifications=image_specs)
        # moto's one placeholder snapshot goes; EC2 makes one per EBS volume of the instance.
        self.snapshots.pop(ami.ebs_snapshot.id, None)
        mappings = []
        for device_name, volume in ebs_volumes_of(instance):
            snapshot = self.create_snapshot(
                volume.id, f"Created by CreateImage({instance_id}) for {ami.id}", ami.owner_id, from_ami=ami.id
            )
            if snapshot_tags:
                snapshot.add_tags(dict(snapshot_tags))
            mappings.append(
                {
                    "DeviceName": device_name,
                    "Ebs": {
                        "SnapshotId": snapshot.id,
                        "VolumeSize": volume.size,
                        "DeleteOnTermination": True,
                        "VolumeType": getattr(volume, "volume_type", None) or "gp2",
                        "Encrypted": bool(volume.encrypted),
                    },
                }
            )
        ami.fixture_mappings = mappings
        ami.fixture_snapshot_ids = [m["Ebs"]["SnapshotId"] for m in mappings]
        ami.state = "pending"
        ami.fixture_describes_left = pending_describes()
        ami.fixture_failure = getattr(instance, "fixture_ami_failure", None)
        ami.deprecation_time = None
        return ami

    original_mappings = ec2_amis.Ami.block_device_mappings

    def block_device_mappings(self):
        mappings = getattr(self, "fixture_mappings", None)
        if mappings is None:
            return original_mappings.fget(self)
        # A failed image lists no mappings (its snapshots may still exist).
        return [] if self.state == "failed" else mappings

    ec2_amis.Ami.block_device_mappings = property(block_device_mappings)
    backend.create_image = create_image


def settle(ami):
    """One DescribeImages naming the image: pending for the first N, then available or failed."""
    if getattr(ami, "fixture_describes_left", None) is None or ami.state != "pending":
        return
    if ami.fixture_describes_left > 0:
        ami.fixture_describes_left -= 1
        return
    if ami.fixture_failure is not None:
        ami.state = "failed"
        ami.state_reason = {"Code": "Server.InternalError", "Message": ami.fixture_failure}
    else:
        ami.state = "available"


def patch_image_states():
    backend = ec2_amis.AmiBackend
    original = require_hook(backend, "describe_images")

    def describe_images(self, ami_ids=None, filters=None, exec_users=None, owners=None):
        for ami_id in ami_ids or []:
            ami = self.amis.get(ami_id)
            if ami is not None:
                settle(ami)
        return original(self, ami_ids=ami_ids, filters=filters, exec_users=exec_users, owners=owners)

    backend.describe_images = describe_images


def patch_deregister_image():
    response_class = ec2_amis_responses.AmisResponse
    require_hook(response_class, "deregister_image")

    def deregister_image(self):
        ami_id = self._get_param("ImageId")
        delete_snapshots = str(self._get_param("DeleteAssociatedSnapshots", "false")).lower() == "true"
        self.error_on_dryrun()
        backend = self.ec2_backend
        ami = backend.amis.get(ami_id)
        snapshot_ids = [
            m["Ebs"]["SnapshotId"] for m in (ami.block_device_mappings if ami is not None else []) if m.get("Ebs", {}).get("SnapshotId")
        ]
        backend.deregister_image(ami_id)
        result = {"Return": True}
        if delete_snapshots:
            results = []
            for snapshot_id in snapshot_ids:
                in_use = any(
                    snapshot_id in [m["Ebs"].get("SnapshotId") for m in other.block_device_mappings if "Ebs" in m]
                    for other in backend.amis.values()
                )
                if in_use:
                    results.append({"SnapshotId": snapshot_id, "ReturnCode": "error-snapshot-in-use"})
                    continue
                backend.snapshots.pop(snapshot_id, None)
                results.append({"SnapshotId": snapshot_id, "ReturnCode": "success"})
            result["DeleteSnapshotResults"] = results
        return ActionResult(result)

    response_class.deregister_image = deregister_image


def parse_deprecate_at(value):
    try:
        parsed = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise InvalidDeprecationTime(f"Invalid value '{value}' for DeprecateAt")
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return parsed


def patch_image_deprecation():
    response_class = ec2_amis_responses.AmisResponse
    for name in ("enable_image_deprecation", "disable_image_deprecation"):
        if hasattr(response_class, name):
            sys.exit(f"moto_launcher: moto {moto.__version__} now has AmisResponse.{name}; drop the launcher's version")

    def enable_image_deprecation(self):
        ami_id = self._get_param("ImageId")
        at = parse_deprecate_at(self._get_param("DeprecateAt"))
        self.error_on_dryrun()
        ami = self.ec2_backend.describe_images(ami_ids=[ami_id])[0]
        if at <= utcnow():
            raise InvalidDeprecationTime("The deprecation time must be in the future.")
        # EC2 rounds down to the minute.
        ami.deprecation_time = at.replace(second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        return ActionResult({"Return": True})

    def disable_image_deprecation(self):
        ami_id = self._get_param("ImageId")
        self.error_on_dryrun()
        ami = self.ec2_backend.describe_images(ami_ids=[ami_id])[0]
        ami.deprecation_time = None
        return ActionResult({"Return": True})

    response_class.enable_image_deprecation = enable_image_deprecation
    response_class.disable_image_deprecation = disable_image_deprecation


def patch_snapshot_owner_ids():
    import moto.ec2.responses.elastic_block_store as ec2_ebs_responses

    response_class = ec2_ebs_responses.ElasticBlockStore
    require_hook(response_class, "describe_snapshots")

    def describe_snapshots(self):
        filters = self._filters_from_querystring()
        snapshot_ids = self._get_param("SnapshotIds", [])
        owners = [self.current_account if o == "self" else o for o in self._get_param("OwnerIds", [])]
        snapshots = self.ec2_backend.describe_snapshots(snapshot_ids=snapshot_ids, filters=filters)
        if owners:
            snapshots = [s for s in snapshots if s.owner_id in owners]
        return ActionResult({"Snapshots": snapshots})

    response_class.describe_snapshots = describe_snapshots


# ---- 5. EC2 wildcards in moto's generic filter -------------------------------------------------------


def patch_generic_filter_wildcards():
    # generic_filter looks is_filter_matching up in moto.ec2.utils' globals on every call.
    original = require_hook(ec2_utils, "is_filter_matching")

    def is_filter_matching(obj, _filter, filter_value):
        value = obj.get_filter_value(_filter)
        if isinstance(value, str) and filter_value is not None:
            return matches_any(filter_value, value)
        return original(obj, _filter, filter_value)

    ec2_utils.is_filter_matching = is_filter_matching


# ---- 6. tags by resource id -------------------------------------------------------------------------


def patch_tag_lookup():
    import moto.ec2.models.core as ec2_core
    import moto.ec2.models.tags as ec2_tags

    resource_class = ec2_core.TaggedEC2Resource
    require_hook(resource_class, "get_tags")
    require_hook(ec2_tags.TagBackend, "describe_tags")
    prefix_to_type = require_hook(ec2_tags, "EC2_PREFIX_TO_RESOURCE")
    get_prefix = require_hook(ec2_tags, "get_prefix")

    def get_tags(self):
        if not self.id:
            return []
        tags = self.ec2_backend.tags.get(self.id)
        if not tags:
            return []
        resource_type = prefix_to_type.get(get_prefix(self.id), "")
        return [{"resource_id": self.id, "key": k, "value": v, "resource_type": resource_type} for k, v in tags.items()]

    resource_class.get_tags = get_tags


# ---- 7. CloudTrail LookupEvents ------------------------------------------------------------------

LOOKUP_ATTRIBUTE_FIELDS = {
    "EventId": lambda e: [e.get("EventId")],
    "EventName": lambda e: [e.get("EventName")],
    "ReadOnly": lambda e: [e.get("ReadOnly")],
    "Username": lambda e: [e.get("Username")],
    "EventSource": lambda e: [e.get("EventSource")],
    "AccessKeyId": lambda e: [e.get("AccessKeyId")],
    "ResourceType": lambda e: [r.get("ResourceType") for r in e.get("Resources") or []],
    "ResourceName": lambda e: [r.get("ResourceName") for r in e.get("Resources") or []],
}
LOOKUP_PAGE_MAX = 50


def _cloudtrail_error(code, message):
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError(code, message)


def _epoch(value, name):
    """EventTime / StartTime / EndTime: epoch seconds (what the SDK sends) or ISO 8601."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        parsed = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        try:
            return float(value)
        except ValueError:
            raise _cloudtrail_error("InvalidParameterException", f"{name} {value!r} is not a time")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.timestamp()


def _lookup_state(backend):
    if not hasattr(backend, "fixture_lookup_events"):
        backend.fixture_lookup_events = []
        backend.fixture_lookup_calls = []
    return backend


def patch_cloudtrail_lookup_events():
    import base64
    import hashlib
    import json

    import moto.cloudtrail.responses as cloudtrail_responses

    response_class = cloudtrail_responses.CloudTrailResponse
    require_hook(response_class, "cloudtrail_backend")
    for name in ("lookup_events", "moto_fixture_put_lookup_events", "moto_fixture_lookup_events_calls"):
        if hasattr(response_class, name):
            sys.exit(f"moto_launcher: moto {moto.__version__} now has CloudTrailResponse.{name}; drop or rename the launcher's version")

    def put_events(self):
        state = _lookup_state(self.cloudtrail_backend)
        events = self._get_param("Events", [])
        for event in events:
            stored = dict(event)
            stored["EventTime"] = _epoch(event.get("EventTime"), "EventTime")
            if stored["EventTime"] is None:
                raise _cloudtrail_error("InvalidParameterException", "every fixture event needs an EventTime")
            if not isinstance(stored.get("CloudTrailEvent"), str):
                stored["CloudTrailEvent"] = json.dumps(stored.get("CloudTrailEvent") or {})
            state.fixture_lookup_events.append(stored)
        return json.dumps({"Stored": len(events), "Total": len(state.fixture_lookup_events)})

    def calls(self):
        state = _lookup_state(self.cloudtrail_backend)
        return json.dumps({"Calls": state.fixture_lookup_calls})

    def lookup_events(self):
        state = _lookup_state(self.cloudtrail_backend)
        attributes = self._get_param("LookupAttributes") or []
        start = _epoch(self._get_param("StartTime"), "StartTime")
        end = _epoch(self._get_param("EndTime"), "EndTime")
        max_results = self._get_param("MaxResults")
        token = self._get_param("NextToken")
        call = {
            "LookupAttributes": attributes,
            "StartTime": start,
            "EndTime": end,
            "MaxResults": max_results,
            "NextToken": token,
            "Returned": 0,
            "Error": None,
            "At": time.time(),
        }
        state.fixture_lookup_calls.append(call)

        def fail(code, message):
            call["Error"] = code
            raise _cloudtrail_error(code, message)

        if len(attributes) > 1:
            fail("InvalidLookupAttributesException", "You cannot specify more than one lookup attribute.")
        for attribute in attributes:
            if attribute.get("AttributeKey") not in LOOKUP_ATTRIBUTE_FIELDS:
                fail("InvalidLookupAttributesException", f"Invalid AttributeKey {attribute.get('AttributeKey')!r}")
            if not attribute.get("AttributeValue"):
                fail("InvalidLookupAttributesException", "AttributeValue must not be empty")
        if max_results is not None and not (1 <= int(max_results) <= LOOKUP_PAGE_MAX):
            fail("InvalidMaxResultsException", f"MaxResults must be between 1 and {LOOKUP_PAGE_MAX}")
        if start is not None and end is not None and start > end:
            fail("InvalidTimeRangeException", "Start time must not be after end time.")
        page_size = int(max_results) if max_results is not None else LOOKUP_PAGE_MAX

        query = hashlib.sha256(json.dumps([attributes, start, end], sort_keys=True).encode()).hexdigest()[:16]
        offset = 0
        if token:
            try:
                token_query, token_offset = base64.urlsafe_b64decode(token.encode()).decode().split(":")
                offset = int(token_offset)
            except Exception:
                fail("InvalidNextTokenException", "Invalid NextToken")
            if token_query != query:
                fail("InvalidNextTokenException", "The NextToken does not belong to this query")

        def selected(event):
            if start is not None and event["EventTime"] < start:
                return False
            if end is not None and event["EventTime"] > end:
                return False
            for attribute in attributes:
                if attribute["AttributeValue"] not in LOOKUP_ATTRIBUTE_FIELDS[attribute["AttributeKey"]](event):
                    return False
            return True

        # Newest first, as CloudTrail lists its event history.
        matching = sorted((e for e in state.fixture_lookup_events if selected(e)), key=lambda e: -e["EventTime"])
        page = matching[offset : offset + page_size]
        call["Returned"] = len(page)
        result = {"Events": page}
        if offset + page_size < len(matching):
            result["NextToken"] = base64.urlsafe_b64encode(f"{query}:{offset + page_size}".encode()).decode()
        return json.dumps(result)

    response_class.lookup_events = lookup_events
    response_class.moto_fixture_put_lookup_events = put_events
    response_class.moto_fixture_lookup_events_calls = calls


# ---- 8. DescribeInstances address filters -------------------------------------------------------

ADDRESS_FILTERS = {
    "network-interface.addresses.private-ip-address": lambda nic: [nic.private_ip_address]
    + [a.get("PrivateIpAddress") for a in nic.private_ip_addresses if isinstance(a, dict)],
    "network-interface.ipv6-addresses.ipv6-address": lambda nic: list(nic.ipv6_addresses or []),
}


def patch_instance_address_filters():
    # Wraps whatever passes_filter_dict is installed (patch 1's key-name wrapper included).
    original = require_hook(ec2_utils, "passes_filter_dict")

    def passes_filter_dict(instance, filter_dict):
        rest = {}
        for name, values in filter_dict.items():
            if name not in ADDRESS_FILTERS:
                rest[name] = values
                continue
            held = set()
            for nic in getattr(instance, "nics", {}).values():
                held.update(a for a in ADDRESS_FILTERS[name](nic) if a)
            if not held.intersection(values):
                return False
        return original(instance, rest)

    ec2_utils.passes_filter_dict = passes_filter_dict


# ---- 9. terminated instances release their addresses ----------------------------------------------


class AddressInUse(EC2ClientError):
    def __init__(self, address):
        super().__init__("InvalidIPAddress.InUse", f"Address {address} is in use.")


class _ResponseView:
    """Serializes as the wrapped moto object except for the attributes in `overrides`."""

    def __init__(self, target, overrides):
        self.__dict__["_target"] = target
        self.__dict__["_overrides"] = overrides

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        overrides = self.__dict__["_overrides"]
        if name in overrides:
            return overrides[name]
        return getattr(self.__dict__["_target"], name)


# moto's serializer also looks attributes up by the class name ("InstanceId" -> "id" on an
# "Instance"), so each view carries the name of what it wraps.
_InstanceView = type("Instance", (_ResponseView,), {})
_ReservationView = type("Reservation", (_ResponseView,), {})

# What EC2 no longer shows of a terminated instance: its interfaces were deleted and its addresses released.
TERMINATED_INSTANCE_OVERRIDES = {
    "network_interfaces": [],
    "private_ip_address": None,
    "private_ip": None,
    "public_ip_address": None,
    "public_ip": None,
    "ipv6_address": None,
    "private_dns_name": "",
    "public_dns_name": "",
    "vpc_id": None,
    "subnet_id": None,
}


def _held_addresses(backend):
    """Every private IPv4 address an interface of the region holds now (moto's subnet registry misses secondary ones)."""
    held = set()
    for eni in list(backend.enis.values()):
        held.update(a.get("PrivateIpAddress") for a in eni.private_ip_addresses if isinstance(a, dict))
        if eni.private_ip_address:
            held.add(eni.private_ip_address)
    return held


def patch_terminated_instances():
    import moto.ec2.responses.instances as ec2_instances_responses

    backend_class = ec2_instances.InstanceBackend
    instance_class = ec2_instances.Instance
    original_run = require_hook(backend_class, "run_instances")  # patch 2's wrapper, installed first
    original_terminate = require_hook(instance_class, "terminate")
    response_class = ec2_instances_responses.InstanceResponse
    original_describe = require_hook(response_class, "describe_instances")

    def run_instances(self, image_id, count, user_data, security_group_names, **kwargs):
        address = kwargs.get("private_ip")
        if address and address in _held_addresses(self):
            raise AddressInUse(address)
        before = set(self.enis)
        reservation = original_run(self, image_id, count, user_data, security_group_names, **kwargs)
        for instance in reservation.instances:
            for nic in instance.nics.values():
                # EC2 deletes the interfaces a launch created when the instance terminates.
                if nic.id not in before:
                    nic.delete_on_termination = True
        return reservation

    def terminate(self):
        if self.state == "terminated":
            # EC2 answers a TerminateInstances of a terminated instance with terminated -> terminated and
            # changes nothing (moto would delete the interfaces it already deleted, and fail).
            return copy.copy(self._state)
        previous = original_terminate(self)
        subnet = None
        if self.subnet_id:
            try:
                subnet = self.ec2_backend.get_subnet(self.subnet_id)
            except Exception:
                subnet = None
        if subnet is not None:
            for address in list(getattr(self, "_private_ips", ())):
                subnet.del_subnet_ip(address)
        return previous

    def describe_instances(self):
        result = original_describe(self)
        reservations = []
        for reservation in result.result["Reservations"]:
            instances = [
                _InstanceView(i, TERMINATED_INSTANCE_OVERRIDES) if i.state == "terminated" else i
                for i in reservation.instances
            ]
            reservations.append(_ReservationView(reservation, {"instances": instances}))
        return ActionResult({**result.result, "Reservations": reservations})

    backend_class.run_instances = run_instances
    instance_class.terminate = terminate
    response_class.describe_instances = describe_instances


# ---- 10. Route 53 change batches checked as Route 53 checks them -----------------------------------


def _rrset_key(name, record_type, set_identifier):
    return (str(name).rstrip(".").lower(), record_type, set_identifier or None)


def _rrset_label(key):
    name, record_type, set_identifier = key
    label = f"name='{name}.', type='{record_type}'"
    if set_identifier is not None:
        label += f", set-identifier='{set_identifier}'"
    return f"[{label}]"


def _text(value):
    return None if value is None or value == "" else str(value)


def _alias_signature(alias):
    if not alias:
        return None
    return (
        str(alias.get("DNSName", "")).rstrip(".").lower(),
        _text(alias.get("HostedZoneId")),
        str(alias.get("EvaluateTargetHealth", False)).lower(),
    )


def _set_signature(record_set):
    """What a DELETE must repeat exactly: moto's stored RecordSet."""
    alias = _alias_signature(record_set.alias_target)
    return (
        alias,
        None if alias else _text(record_set.ttl),
        tuple(sorted(str(v) for v in record_set.records or [])),
        _text(record_set.weight),
        _text(record_set.region),
        _text(record_set.failover),
        _text(record_set.health_check_id),
        _text(record_set.multi_value_answer),
    )


def _request_signature(request):
    """The same, from the ResourceRecordSet of a change."""
    alias = _alias_signature(request.get("AliasTarget"))
    return (
        alias,
        None if alias else _text(request.get("TTL")),
        tuple(sorted(str(r["Value"]) for r in request.get("ResourceRecords") or [])),
        _text(request.get("Weight")),
        _text(request.get("Region")),
        _text(request.get("Failover")),
        _text(request.get("HealthCheckId")),
        _text(request.get("MultiValueAnswer")),
    )


def patch_route53_change_batches():
    import moto.route53.models as route53_models
    from moto.route53.exceptions import DnsNameInvalidForZone, InvalidActionValue, Route53ClientError
    from moto.route53.utils import validate_domain_name

    backend_class = route53_models.Route53Backend
    require_hook(backend_class, "change_resource_record_sets")
    record_set_class = require_hook(route53_models, "RecordSet")

    class InvalidChangeBatch(Route53ClientError):
        def __init__(self, problems):
            # Route 53 lists every problem of the batch in one message, in brackets.
            super().__init__("InvalidChangeBatch", f"[{', '.join(problems)}]")

    def change_resource_record_sets(self, zoneid, change_list):
        zone = self.get_hosted_zone(zoneid)
        zone_name = zone.name.rstrip(".").lower()
        working = list(zone.rrsets)
        problems = []
        for change in change_list:
            action = change["Action"]
            request = change["ResourceRecordSet"]
            validate_domain_name(request["Name"], code="InvalidChangeBatch")
            if action not in ("CREATE", "UPSERT", "DELETE"):
                raise InvalidActionValue(action)
            name = request["Name"].rstrip(".").lower()
            if name != zone_name and not name.endswith("." + zone_name):
                raise DnsNameInvalidForZone(name=request["Name"], zone_name=zone.name)
            key = _rrset_key(request["Name"], request.get("Type"), request.get("SetIdentifier"))
            index = next((i for i, rs in enumerate(working) if _rrset_key(rs.name, rs.type, rs.set_identifier) == key), None)
            if action == "CREATE" and index is not None:
                problems.append(f"Tried to create resource record set {_rrset_label(key)} but it already exists")
                continue
            if action == "DELETE":
                if index is None:
                    problems.append(f"Tried to delete resource record set {_rrset_label(key)} but it was not found")
                elif _set_signature(working[index]) != _request_signature(request):
                    problems.append(f"Tried to delete resource record set {_rrset_label(key)} but the values provided do not match the current values")
                else:
                    del working[index]
                continue
            stored = dict(request)
            if not stored["Name"].endswith("."):
                stored["Name"] += "."
            if "ResourceRecords" in stored:
                stored["ResourceRecords"] = [r["Value"] for r in stored["ResourceRecords"]]
            if index is None:
                working.append(record_set_class(stored))
            else:
                working[index] = record_set_class(stored)
        if problems:
            raise InvalidChangeBatch(problems)
        # All or nothing, as Route 53 applies a batch.
        zone.rrsets = working
        for change in change_list:
            zone.rr_changes.append(copy.deepcopy(change))

    backend_class.change_resource_record_sets = change_resource_record_sets


# ---- 11. Lambda functions the emulator answers itself (hooks) ---------------------------------------

FIXTURE_HOOK = "moto-fixture:hook"
FIXTURE_HOOK_FAILS_WHEN = "moto-fixture:hook-fails-when"
FIXTURE_HOOK_FAILS_TIMES = "moto-fixture:hook-fails-times"
FIXTURE_HOOK_ERROR_TYPE = "moto-fixture:hook-error-type"
INVOCATIONS_PATH = "/moto-api/fixtures/lambda-invocations"


def _lambda_invocations(backend):
    if not hasattr(backend, "fixture_invocations"):
        backend.fixture_invocations = []
    return backend.fixture_invocations


def _fixture_records(backends, attribute, sort_key):
    """Every record a patch keeps on `attribute` of the region backends of every account, oldest first."""
    found = []
    for _account, regions in list(backends.items()):
        for _region, backend in list(regions.items()):
            found.extend(getattr(backend, attribute, []))
    found.sort(key=lambda r: r[sort_key])
    return found


def patch_lambda_fixture_functions():
    import json

    import moto.awslambda.models as lambda_models
    import moto.moto_api._internal.urls as moto_api_urls

    backend_class = lambda_models.LambdaBackend
    original_invoke = require_hook(backend_class, "invoke")
    lambda_backends = require_hook(lambda_models, "lambda_backends")
    url_paths = require_hook(moto_api_urls, "url_paths")

    def invoke(self, function_name, qualifier, body, headers, response_headers):
        fn = self.get_function(function_name, qualifier)
        tags = getattr(fn, "tags", None) or {}
        if FIXTURE_HOOK not in tags:
            return original_invoke(self, function_name, qualifier, body, headers, response_headers)
        text = body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else str(body or "")
        try:
            payload = json.loads(text) if text else None
        except ValueError:
            payload = text
        invocation_type = headers.get("X-Amz-Invocation-Type") or headers.get("x-amz-invocation-type") or "RequestResponse"
        fails_when = tags.get(FIXTURE_HOOK_FAILS_WHEN)
        failed = False
        if fails_when and fails_when in text:
            failed_so_far = getattr(fn, "fixture_failures", 0)
            limit = tags.get(FIXTURE_HOOK_FAILS_TIMES)
            if limit is None or failed_so_far < int(limit):
                failed = True
                fn.fixture_failures = failed_so_far + 1
        _lambda_invocations(self).append({
            "FunctionArn": fn.function_arn,
            "FunctionName": fn.function_name,
            "Qualifier": qualifier,
            "InvocationType": invocation_type,
            "Payload": payload,
            "FunctionError": "Unhandled" if failed else None,
            "At": time.time(),
        })
        response_headers["x-amz-executed-version"] = "$LATEST"
        if failed:
            # What the Node.js runtime answers for an error the handler throws.
            error_type = tags.get(FIXTURE_HOOK_ERROR_TYPE, "Error")
            result = json.dumps({
                "errorType": error_type,
                "errorMessage": f"fixture hook {fn.function_name} fails for payloads containing {fails_when}",
                "trace": [f"{error_type}: fixture failure", "    at Runtime.handler (file:///var/task/index.mjs:1:1)"],
            })
            response_headers["x-amz-function-error"] = "Unhandled"
        else:
            result = "null"
        response_headers["Content-Length"] = str(len(result))
        return result.encode("utf-8")

    def invocations(request, full_url, headers):
        found = _fixture_records(lambda_backends, "fixture_invocations", "At")
        return 200, {"content-type": "application/json"}, json.dumps({"Invocations": found})

    backend_class.invoke = invoke
    url_paths["{0}" + INVOCATIONS_PATH] = invocations


# ---- 12. EventBridge targets get the whole event ------------------------------------------------------


def patch_event_target_envelope():
    import moto.events.utils as events_utils

    parser = require_hook(events_utils, "EventTemplateParser")
    template = require_hook(parser, "DEFAULT_EVENT_INPUT_TEMPLATE")
    paths = require_hook(parser, "DEFAULT_EVENT_INPUT_PATHS_MAP")
    if '"account"' in template:
        sys.exit(f"moto_launcher: moto {moto.__version__} now delivers the account field; drop patch 12")
    if paths.get("account") != "$.account":
        sys.exit("moto_launcher: EventTemplateParser no longer maps $.account; patch 12 needs updating")
    parser.DEFAULT_EVENT_INPUT_TEMPLATE = template.replace('"source": "<source>", ', '"source": "<source>", "account": "<account>", ')
    if '"account"' not in parser.DEFAULT_EVENT_INPUT_TEMPLATE:
        sys.exit("moto_launcher: EventTemplateParser's default template changed; patch 12 needs updating")


# ---- 13. Lambda functions backed by a bundle, run in node ----------------------------------------------

FIXTURE_BUNDLE = "moto-fixture:bundle"
FIXTURE_ENDPOINT = "moto-fixture:endpoint"
BUNDLE_INVOCATIONS_PATH = "/moto-api/fixtures/bundle-invocations"
INVOKE_HANDLER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "invoke-handler.cjs")
# node starts and loads the bundle before the handler's clock runs (Lambda does not count its init either).
BUNDLE_START_ALLOWANCE_SECONDS = 1
# Lambda returns the last 4 KB of the function's log with LogType=Tail.
LOG_TAIL_BYTES = 4096

# The launcher's own endpoint (main() fills it in from argv): what the bundle's SDK clients call.
SERVER = {"endpoint": None}


def _bundle_invocations(backend):
    if not hasattr(backend, "fixture_bundle_invocations"):
        backend.fixture_bundle_invocations = []
    return backend.fixture_bundle_invocations


def _node_binary():
    import shutil

    node = os.environ.get("MOTO_LAUNCHER_NODE") or shutil.which("node")
    if not node:
        raise RuntimeError("moto_launcher: no node binary (set MOTO_LAUNCHER_NODE or put node on PATH)")
    return node


def _node_error(error_type, message, stack=None):
    """What the Node.js runtime answers for an error the handler throws."""
    trace = [line for line in (stack or f"{error_type}: {message}").split("\n")]
    return {"errorType": error_type, "errorMessage": message, "trace": trace}


def _run_bundle(fn, bundle, event_text, qualifier, region):
    """Run the bundle once in a fresh node process; returns (ok, result_or_error, logs, timed_out)."""
    import json
    import subprocess
    import tempfile

    request_id = f"emulator-{time.time_ns()}"
    if not os.path.isfile(bundle):
        return False, _node_error("Runtime.ImportModuleError", f"Error: Cannot find module '{bundle}'"), "", False
    env = {
        "PATH": os.environ.get("PATH", ""),
        "TZ": "UTC",
        "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(getattr(fn, "memory_size", 128) or 128),
        **{str(k): str(v) for k, v in (fn.environment_vars or {}).items()},
        # Lambda's reserved variables win over the function's own.
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        # A test that puts a proxy between the bundle and the emulator names it (see the docstring).
        "AWS_ENDPOINT_URL": (getattr(fn, "tags", None) or {}).get(FIXTURE_ENDPOINT) or SERVER["endpoint"],
    }
    timeout = float(getattr(fn, "timeout", 3) or 3)
    with tempfile.TemporaryDirectory(prefix="moto-bundle-") as tmp:
        event_path = os.path.join(tmp, "event.json")
        outcome_path = os.path.join(tmp, "outcome.json")
        with open(event_path, "w", encoding="utf-8") as f:
            f.write(event_text if event_text.strip() else "{}")
        args = [_node_binary(), INVOKE_HANDLER, bundle, event_path, outcome_path, str(int(timeout))]
        if qualifier:
            args.append(qualifier)
        timed_out = False
        try:
            done = subprocess.run(args, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=timeout + BUNDLE_START_ALLOWANCE_SECONDS)
            logs = (done.stdout + done.stderr).decode("utf-8", "replace")
        except subprocess.TimeoutExpired as expired:  # subprocess.run has killed node
            timed_out = True
            logs = ((expired.stdout or b"") + (expired.stderr or b"")).decode("utf-8", "replace")
        if timed_out:
            return False, {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds",
            }, logs, True
        if not os.path.exists(outcome_path):
            return False, {
                "errorType": "Runtime.ExitError",
                "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: exit status {done.returncode}",
            }, logs, False
        with open(outcome_path, encoding="utf-8") as f:
            outcome = json.load(f)
    if outcome.get("ok"):
        return True, outcome.get("result"), logs, False
    error = outcome.get("error") or {}
    return False, _node_error(error.get("name") or "Error", error.get("message") or "", error.get("stack")), logs, False


def patch_lambda_bundle_functions():
    import base64
    import json

    import moto.awslambda.models as lambda_models
    import moto.moto_api._internal.urls as moto_api_urls

    backend_class = lambda_models.LambdaBackend
    original_invoke = require_hook(backend_class, "invoke")  # patch 11's wrapper, installed first
    lambda_backends = require_hook(lambda_models, "lambda_backends")
    url_paths = require_hook(moto_api_urls, "url_paths")
    if not os.path.isfile(INVOKE_HANDLER):
        sys.exit(f"moto_launcher: {INVOKE_HANDLER} is missing; patch 13 runs bundles through it")

    def invoke(self, function_name, qualifier, body, headers, response_headers):
        fn = self.get_function(function_name, qualifier)
        bundle = (getattr(fn, "tags", None) or {}).get(FIXTURE_BUNDLE)
        if not bundle:
            return original_invoke(self, function_name, qualifier, body, headers, response_headers)
        text = body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else str(body or "")
        try:
            payload = json.loads(text) if text.strip() else {}
        except ValueError:
            payload = text
        invocation_type = headers.get("X-Amz-Invocation-Type") or headers.get("x-amz-invocation-type") or "RequestResponse"
        response_headers["x-amz-executed-version"] = "$LATEST"
        if invocation_type == "DryRun":
            return b""
        record = {
            "FunctionArn": fn.function_arn,
            "FunctionName": fn.function_name,
            "Qualifier": qualifier,
            "InvocationType": invocation_type,
            "Payload": payload,
            "Result": None,
            "Error": None,
            "FunctionError": None,
            "TimedOut": False,
            "StartTime": time.time(),
            "EndTime": None,
        }
        _bundle_invocations(self).append(record)

        def run():
            ok, outcome, logs, timed_out = _run_bundle(fn, bundle, text, qualifier, self.region_name)
            record.update({
                "Result": outcome if ok else None,
                "Error": None if ok else outcome,
                "FunctionError": None if ok else "Unhandled",
                "TimedOut": timed_out,
                "EndTime": time.time(),
            })
            return ok, outcome, logs

        if invocation_type == "Event":
            threading.Thread(target=run, name=f"bundle-{fn.function_name}", daemon=True).start()
            return b""
        ok, outcome, logs = run()
        if not ok:
            response_headers["x-amz-function-error"] = "Unhandled"
        if (headers.get("X-Amz-Log-Type") or headers.get("x-amz-log-type")) == "Tail":
            response_headers["x-amz-log-result"] = base64.b64encode(logs.encode("utf-8")[-LOG_TAIL_BYTES:]).decode("ascii")
        result = json.dumps(outcome).encode("utf-8")
        response_headers["Content-Length"] = str(len(result))
        return result

    def invocations(request, full_url, headers):
        found = _fixture_records(lambda_backends, "fixture_bundle_invocations", "StartTime")
        return 200, {"content-type": "application/json"}, json.dumps({"Invocations": found})

    backend_class.invoke = invoke
    url_paths["{0}" + BUNDLE_INVOCATIONS_PATH] = invocations


def patch_step_functions_executions():
    """Let moto's interpreter run more than one execution, each with a name (see patch 13)."""
    import uuid

    import moto.stepfunctions.models as sfn_models
    import moto.stepfunctions.parser.models as sfn_parser_models

    instance_class = require_hook(sfn_models, "StateMachineInstance")
    parser_backend = require_hook(sfn_parser_models, "StepFunctionsParserBackend")
    original_start = require_hook(parser_backend, "start_execution")
    if "__deepcopy__" in vars(instance_class):
        sys.exit(f"moto_launcher: moto {moto.__version__} now defines StateMachineInstance.__deepcopy__; patch 13 needs updating")
    # Shared, not copied: the backend (every machine and execution of the region) and the executions,
    # whose running interpreters hold locks deepcopy cannot copy.
    shared = ("backend", "executions")

    def __deepcopy__(self, memo):
        clone = self.__class__.__new__(self.__class__)
        memo[id(self)] = clone
        for key, value in self.__dict__.items():
            setattr(clone, key, value if key in shared else copy.deepcopy(value, memo))
        return clone

    def start_execution(self, state_machine_arn, name=None, execution_input=None, trace_header=None):
        # Step Functions names an execution it is not given a name for with a UUID.
        return original_start(self, state_machine_arn, name or str(uuid.uuid4()), execution_input, trace_header)

    instance_class.__deepcopy__ = __deepcopy__
    parser_backend.start_execution = start_execution


def check_step_functions_reach_this_server(port):
    """moto's Step Functions interpreter calls Lambda (and the other integrations) on this server.

    boto_client_for builds its clients with endpoint http://localhost:<moto_server_port()>, i.e. the env
    var MOTO_PORT (default 5000), which moto.server only sets when it is unset: an inherited MOTO_PORT
    would send the interpreter to another port. Its access key "ak" is no IAM key here, so moto maps it
    to its default account, the one the harness creates everything in.
    """
    import moto.settings as moto_settings
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.iam.models import get_account_id_from
    from moto.stepfunctions.parser.asl.utils import boto_client as sfn_boto_client

    require_hook(sfn_boto_client, "boto_client_for")
    require_hook(moto_settings, "moto_server_port")
    os.environ["MOTO_PORT"] = str(port)
    if moto_settings.moto_server_port() != str(port):
        sys.exit("moto_launcher: moto_server_port() no longer reads MOTO_PORT; patch 13 needs updating")
    if get_account_id_from("ak") != DEFAULT_ACCOUNT_ID:
        sys.exit("moto_launcher: the Step Functions interpreter's access key 'ak' no longer maps to moto's default account")


# ---- 14. Auto Scaling lifecycle actions ------------------------------------------------------------

LIFECYCLE_ACTIONS_PATH = "/moto-api/fixtures/lifecycle-actions"
LIFECYCLE_RESULTS = ("CONTINUE", "ABANDON")
# A lifecycle action ends at the latest 100 x the heartbeat timeout or 48 hours after it began.
LIFECYCLE_GLOBAL_TIMEOUT_FACTOR = 100
LIFECYCLE_GLOBAL_TIMEOUT_MAX = 172800


def _lifecycle_actions(backend):
    if not hasattr(backend, "fixture_lifecycle_actions"):
        backend.fixture_lifecycle_actions = []
    return backend.fixture_lifecycle_actions


def _lifecycle_expired(action, now):
    if action["Completion"] is not None or action["Expired"] is not None:
        return
    deadline = min(action["LastHeartbeatAt"] + action["HeartbeatTimeout"], action["GlobalDeadline"])
    if now >= deadline:
        action["Expired"] = {"At": deadline, "Result": action["DefaultResult"]}


def patch_autoscaling_lifecycle_actions():
    import json
    import uuid

    import moto.autoscaling.models as autoscaling_models
    import moto.autoscaling.responses as autoscaling_responses
    import moto.moto_api._internal.urls as moto_api_urls
    from moto.autoscaling.exceptions import ValidationError
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.core.responses import EmptyResult

    backend_class = autoscaling_models.AutoScalingBackend
    response_class = autoscaling_responses.AutoScalingResponse
    autoscaling_backends = require_hook(autoscaling_models, "autoscaling_backends")
    url_paths = require_hook(moto_api_urls, "url_paths")
    require_hook(backend_class, "describe_lifecycle_hooks")
    for name in ("complete_lifecycle_action", "record_lifecycle_action_heartbeat"):
        if hasattr(backend_class, name) or hasattr(response_class, name):
            sys.exit(f"moto_launcher: moto {moto.__version__} now implements {name}; drop patch 14")

    def find_action(self, group, hook, instance_id, token):
        now = time.time()
        for action in _lifecycle_actions(self):
            if token:
                if action["LifecycleActionToken"] != token:
                    continue
            elif action["InstanceId"] != instance_id:
                continue
            _lifecycle_expired(action, now)
            if action["Completion"] is not None or action["Expired"] is not None:
                continue
            if action["AutoScalingGroupName"] != group or action["LifecycleHookName"] != hook:
                continue
            if token and instance_id and action["InstanceId"] != instance_id:
                continue
            return action
        if token:
            raise ValidationError(f"No active Lifecycle Action found with token {token}")
        raise ValidationError(f"No active Lifecycle Action found with instance ID {instance_id}")

    def complete_lifecycle_action(self, group, hook, instance_id, token, result):
        if result not in LIFECYCLE_RESULTS:
            raise ValidationError(f"Invalid value for LifecycleActionResult: {result}. Valid values are CONTINUE or ABANDON")
        if not token and not instance_id:
            raise ValidationError("Either LifecycleActionToken or InstanceId must be specified")
        action = find_action(self, group, hook, instance_id, token)
        action["Completion"] = {"Result": result, "At": time.time()}

    def record_lifecycle_action_heartbeat(self, group, hook, instance_id, token):
        if not token and not instance_id:
            raise ValidationError("Either LifecycleActionToken or InstanceId must be specified")
        action = find_action(self, group, hook, instance_id, token)
        now = time.time()
        action["Heartbeats"].append(now)
        action["LastHeartbeatAt"] = now

    def complete_lifecycle_action_response(self):
        self.autoscaling_backend.complete_lifecycle_action(
            group=self._get_param("AutoScalingGroupName"),
            hook=self._get_param("LifecycleHookName"),
            instance_id=self._get_param("InstanceId"),
            token=self._get_param("LifecycleActionToken"),
            result=self._get_param("LifecycleActionResult"),
        )
        return EmptyResult()

    def record_lifecycle_action_heartbeat_response(self):
        self.autoscaling_backend.record_lifecycle_action_heartbeat(
            group=self._get_param("AutoScalingGroupName"),
            hook=self._get_param("LifecycleHookName"),
            instance_id=self._get_param("InstanceId"),
            token=self._get_param("LifecycleActionToken"),
        )
        return EmptyResult()

    def lifecycle_actions(request, full_url, headers):
        if request.method == "POST":
            length = int(headers.get("Content-Length") or 0)
            body = json.loads(request.environ["wsgi.input"].read(length).decode("utf-8") or "{}")
            missing = [k for k in ("AutoScalingGroupName", "LifecycleHookName", "InstanceId") if not body.get(k)]
            if missing:
                return 400, {"content-type": "application/json"}, json.dumps({"message": f"missing {', '.join(missing)}"})
            backend = autoscaling_backends[body.get("AccountId") or DEFAULT_ACCOUNT_ID][body.get("Region") or "us-east-1"]
            hooks = backend.describe_lifecycle_hooks(body["AutoScalingGroupName"], [body["LifecycleHookName"]])
            hook = hooks[0] if hooks else None
            now = time.time()
            heartbeat_timeout = float(body.get("HeartbeatTimeout") or (hook.heartbeat_timeout if hook else 3600))
            action = {
                "AccountId": backend.account_id,
                "Region": backend.region_name,
                "AutoScalingGroupName": body["AutoScalingGroupName"],
                "LifecycleHookName": body["LifecycleHookName"],
                "InstanceId": body["InstanceId"],
                "LifecycleActionToken": body.get("LifecycleActionToken") or str(uuid.uuid4()),
                "HeartbeatTimeout": heartbeat_timeout,
                "DefaultResult": body.get("DefaultResult") or (hook.default_result if hook else None) or "ABANDON",
                "StartTime": now,
                "GlobalDeadline": now + min(LIFECYCLE_GLOBAL_TIMEOUT_FACTOR * heartbeat_timeout, LIFECYCLE_GLOBAL_TIMEOUT_MAX),
                "LastHeartbeatAt": now,
                "Heartbeats": [],
                "Completion": None,
                "Expired": None,
            }
            _lifecycle_actions(backend).append(action)
            return 201, {"content-type": "application/json"}, json.dumps(action)
        found = _fixture_records(autoscaling_backends, "fixture_lifecycle_actions", "StartTime")
        now = time.time()
        for action in found:
            _lifecycle_expired(action, now)
        return 200, {"content-type": "application/json"}, json.dumps({"LifecycleActions": found})

    backend_class.complete_lifecycle_action = complete_lifecycle_action
    backend_class.record_lifecycle_action_heartbeat = record_lifecycle_action_heartbeat
    response_class.complete_lifecycle_action = complete_lifecycle_action_response
    response_class.record_lifecycle_action_heartbeat = record_lifecycle_action_heartbeat_response
    url_paths["{0}" + LIFECYCLE_ACTIONS_PATH] = lifecycle_actions


# ---- 15. ECR images as ECR keeps them ------------------------------------------------------------

ECR_INDEX_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)


class _EcrImageId:
    """An imageIds entry of BatchDeleteImage's answer (what moto's own ImageId serializes from)."""

    def __init__(self, digest, tag=None):
        self.image_digest = digest
        self.image_tag = tag


def _ecr_listed_by(repository):
    """digest -> digests of the image indexes in the repository that list it."""
    import json

    listed = {}
    for image in repository.images:
        try:
            manifest = json.loads(image.image_manifest)
        except ValueError:
            continue
        media_type = image.image_manifest_media_type or manifest.get("mediaType")
        if media_type not in ECR_INDEX_MEDIA_TYPES:
            continue
        for entry in manifest.get("manifests") or []:
            digest = entry.get("digest") if isinstance(entry, dict) else None
            if digest:
                listed.setdefault(digest, []).append(image.get_image_digest())
    return listed


def _ecr_deleted_whole(repository, image_id):
    """The image an id of BatchDeleteImage removes with all its tags; None when it only untags one (or names nothing)."""
    digest = image_id.get("imageDigest")
    tag = image_id.get("imageTag")
    for image in repository.images:
        if digest and image.get_image_digest() != digest:
            continue
        if tag and tag not in image.image_tags:
            continue
        if not digest and not tag:
            return None
        # By tag alone: ECR removes the tag, and the image only with its last tag.
        if not digest and len(image.image_tags) > 1:
            return None
        return image
    return None


def _ecr_delete_failures(backend):
    if not hasattr(backend, "fixture_delete_failures"):
        backend.fixture_delete_failures = {}
    return backend.fixture_delete_failures


def patch_ecr_images():
    import moto.ecr.models as ecr_models

    backend_class = ecr_models.ECRBackend
    original_put = require_hook(backend_class, "put_image")
    original_delete = require_hook(backend_class, "batch_delete_image")
    require_hook(ecr_models.Image, "get_image_digest")
    mutable = require_hook(ecr_models.RepoTagMutability, "MUTABLE")

    def put_image(self, repository_name, image_manifest, image_tag, image_manifest_mediatype=None, digest=None):
        repository = self.repositories.get(repository_name)
        if repository is not None and image_tag and repository.image_tag_mutability == mutable \
                and not repository.image_tag_mutability_exclusion_filters:
            # The tag moves: the image that had it stays, untagged if that was its last tag
            # (moto's put_image would delete it with BatchDeleteImage by tag).
            for image in repository.images:
                if image_tag in image.image_tags and image.image_manifest != image_manifest:
                    image.image_tags.remove(image_tag)
                    image.image_tag = image.image_tags[-1] if image.image_tags else None
        return original_put(self, repository_name, image_manifest, image_tag, image_manifest_mediatype, digest)

    def batch_delete_image(self, repository_name, registry_id=None, image_ids=None):
        repository = self.repositories.get(repository_name)
        if repository is None or not image_ids:
            return original_delete(self, repository_name, registry_id, image_ids)
        # References are those of the repository as the request finds it.
        listed = _ecr_listed_by(repository)
        scripted = _ecr_delete_failures(self)
        refused = []
        allowed = []
        for image_id in image_ids:
            image = _ecr_deleted_whole(repository, image_id)
            if image is not None:
                digest = image.get_image_digest()
                failure = scripted.get((repository_name, digest))
                holders = [d for d in listed.get(digest, []) if d != digest]
                if failure is not None:
                    refused.append({"imageId": dict(image_id), **failure})
                    continue
                if holders:
                    refused.append({
                        "imageId": dict(image_id),
                        "failureCode": "ImageReferencedByManifestList",
                        "failureReason": f"Requested image referenced by manifest list: [{', '.join(holders)}]",
                    })
                    continue
            allowed.append(image_id)
        untagged_before = [i.get_image_digest() for i in repository.images if not i.image_tags]
        response = original_delete(self, repository_name, registry_id, allowed) if allowed else {"imageIds": [], "failures": []}
        remaining = {i.get_image_digest() for i in repository.images}
        reported = {getattr(i, "image_digest", None) for i in response["imageIds"]}
        for digest in untagged_before:
            # ECR names a deleted untagged image by its digest; moto names an image once per tag, so not at all.
            if digest not in remaining and digest not in reported:
                response["imageIds"].append(_EcrImageId(digest))
        response["failures"].extend(refused)
        return response

    backend_class.put_image = put_image
    backend_class.batch_delete_image = batch_delete_image


# ---- 16. ECR fixtures: push times and scripted deletion failures -------------------------------------

ECR_IMAGES_PATH = "/moto-api/fixtures/ecr-images"


def patch_ecr_image_fixtures():
    import json

    import moto.ecr.models as ecr_models
    import moto.moto_api._internal.urls as moto_api_urls
    from moto.core.models import DEFAULT_ACCOUNT_ID

    ecr_backends = require_hook(ecr_models, "ecr_backends")
    url_paths = require_hook(moto_api_urls, "url_paths")

    def answer(status, body):
        return status, {"content-type": "application/json"}, json.dumps(body)

    def ecr_images(request, full_url, headers):
        if request.method != "POST":
            return answer(405, {"message": "POST only"})
        length = int(headers.get("Content-Length") or 0)
        body = json.loads(request.environ["wsgi.input"].read(length).decode("utf-8") or "{}")
        missing = [k for k in ("RepositoryName", "ImageDigest") if not body.get(k)]
        if missing:
            return answer(400, {"message": f"missing {', '.join(missing)}"})
        backend = ecr_backends[body.get("AccountId") or DEFAULT_ACCOUNT_ID][body.get("Region") or "us-east-1"]
        repository = backend.repositories.get(body["RepositoryName"])
        image = next((i for i in (repository.images if repository else []) if i.get_image_digest() == body["ImageDigest"]), None)
        if image is None:
            return answer(404, {"message": f"no image {body['RepositoryName']}@{body['ImageDigest']}"})
        if "ImagePushedAt" in body:
            value = body["ImagePushedAt"]
            if isinstance(value, (int, float)):
                pushed_at = float(value)
            else:
                try:
                    parsed = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
                except ValueError:
                    return answer(400, {"message": f"ImagePushedAt={value} (expected ISO 8601 or epoch seconds)"})
                if parsed.tzinfo is None:
                    parsed = parsed.replace(tzinfo=datetime.timezone.utc)
                pushed_at = parsed.timestamp()
            image.image_pushed_at = pushed_at
        if "DeleteFailure" in body:
            key = (body["RepositoryName"], body["ImageDigest"])
            failure = body["DeleteFailure"]
            if failure is None:
                _ecr_delete_failures(backend).pop(key, None)
            elif not failure.get("FailureCode"):
                return answer(400, {"message": "DeleteFailure needs a FailureCode"})
            else:
                _ecr_delete_failures(backend)[key] = {
                    "failureCode": failure["FailureCode"],
                    "failureReason": failure.get("FailureReason") or failure["FailureCode"],
                }
        return answer(200, {"ImageDigest": image.get_image_digest(), "ImagePushedAt": image.image_pushed_at})

    url_paths["{0}" + ECR_IMAGES_PATH] = ecr_images


# ---- 17. ECS task containers as ECS reports them ------------------------------------------------------

ECR_IMAGE_URI = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com/([^:@]+)(?::([^@]+))?(?:@(sha256:[0-9a-f]{64}))?$")


def _pulled_digest(image_uri):
    """The digest ECS pulls for an image of a (moto) ECR registry: the one it names, or its tag's now."""
    from moto.ecr.models import ecr_backends

    match = ECR_IMAGE_URI.match(image_uri or "")
    if not match:
        return None
    account, region, repository_name, tag, digest = match.groups()
    if digest:
        return digest
    repository = ecr_backends[account][region].repositories.get(repository_name)
    tag = tag or "latest"
    for image in repository.images if repository else []:
        if tag in image.image_tags:
            return image.get_image_digest()
    return None


def _definition_value(definition, key):
    # CloudFormation passes capitalised keys.
    return definition.get(key, definition.get(key[:1].upper() + key[1:]))


def patch_ecs_task_containers():
    import moto.ecs.models as ecs_models

    task_class = ecs_models.Task
    container_class = require_hook(ecs_models, "Container")
    original_init = require_hook(task_class, "__init__")

    def __init__(self, cluster, task_definition, *args, **kwargs):
        original_init(self, cluster, task_definition, *args, **kwargs)
        containers = []
        for definition in task_definition.container_definitions:
            container = container_class(task_definition)
            for key in ("name", "image", "cpu", "memory", "environment", "command"):
                setattr(container, key, _definition_value(definition, key))
            digest = _pulled_digest(container.image)
            if digest:
                container.image_digest = digest
            containers.append(container)
        self.containers = containers

    task_class.__init__ = __init__


# ---- 18. ECS services roll out a new deployment -------------------------------------------------------


def patch_ecs_service_deployments():
    import moto.ecs.models as ecs_models
    from moto.moto_api._internal import mock_random

    backend_class = ecs_models.EC2ContainerServiceBackend
    original_update = require_hook(backend_class, "update_service")
    require_hook(backend_class, "_get_service")

    def update_service(self, service_properties):
        task_definition_str = service_properties.get("task_definition")
        result = original_update(self, service_properties)
        if not task_definition_str:
            return result
        arn = self.describe_task_definition(task_definition_str).arn
        result.task_definition = arn
        primary = next((d for d in result.deployments if d.get("status") == "PRIMARY"), None)
        if primary is None or primary.get("taskDefinition") == arn:
            return result
        now = utcnow()
        deployment_id = f"ecs-svc/{mock_random.randint(0, 32**12)}"
        primary["status"] = "ACTIVE"
        primary["updatedAt"] = now
        result.deployments.insert(0, {
            **primary,
            "id": deployment_id,
            "status": "PRIMARY",
            "taskDefinition": arn,
            "desiredCount": result.desired_count,
            "pendingCount": result.desired_count,
            "runningCount": 0,
            "failedTasks": 0,
            "rolloutState": "IN_PROGRESS",
            "rolloutStateReason": f"ECS deployment {deployment_id} in progress.",
            "createdAt": now,
            "updatedAt": now,
        })
        return result

    backend_class.update_service = update_service


# ---- 19. a task definition family means its latest ACTIVE revision --------------------------------------


def patch_ecs_family_revision():
    import moto.ecs.models as ecs_models
    from moto.ecs.exceptions import TaskDefinitionNotFoundException

    backend_class = ecs_models.EC2ContainerServiceBackend
    original_describe = require_hook(backend_class, "describe_task_definition")

    def describe_task_definition(self, task_definition_str):
        name = task_definition_str.split("/")[-1]
        if ":" in name:
            return original_describe(self, task_definition_str)
        revisions = self.task_definitions.get(name, {})
        active = [revision for revision, definition in revisions.items() if definition.status == "ACTIVE"]
        if not active:
            raise TaskDefinitionNotFoundException()
        return revisions[max(active)]

    backend_class.describe_task_definition = describe_task_definition


# ---- 20. a published Lambda version keeps its code ------------------------------------------------------


def patch_lambda_version_code():
    import moto.awslambda.models as lambda_models

    storage_class = require_hook(lambda_models, "LambdaStorage")
    original_publish = require_hook(storage_class, "publish_version")

    def publish_version(self, name_or_arn, description=""):
        version = original_publish(self, name_or_arn, description)
        if version is not None and isinstance(getattr(version, "code", None), dict):
            # moto's version is a shallow copy of $LATEST: without this, UpdateFunctionCode rewrites its ImageUri too.
            version.code = copy.deepcopy(version.code)
        return version

    storage_class.publish_version = publish_version


# ---- 21. STS refuses AssumeRole of a role whose trust policy does not allow the caller -------------------

FIXTURE_DENY_ASSUME_ROLE = "moto-fixture:deny-assume-role"


def patch_sts_assume_role_denied():
    import moto.sts.responses as sts_responses
    from moto.core.exceptions import AccessDeniedError
    from moto.iam.models import iam_backends

    response_class = sts_responses.TokenResponse
    original_assume = require_hook(response_class, "assume_role")

    def denied(role_arn):
        parts = (role_arn or "").split(":")
        if len(parts) < 6:
            return False
        account, partition = parts[4], parts[1]
        if account not in iam_backends or partition not in iam_backends[account]:
            return False
        for role in iam_backends[account][partition].get_roles():
            if role.arn == role_arn:
                return any(tag.get("Key") == FIXTURE_DENY_ASSUME_ROLE for tag in role.tags or [])
        return False

    def assume_role(self):
        role_arn = self._get_param("RoleArn")
        if denied(role_arn):
            _user_id, caller_arn, _account = self.backend.get_caller_identity(self.get_access_key(), self.region)
            raise AccessDeniedError(caller_arn, f"sts:AssumeRole on resource: {role_arn}")
        return original_assume(self)

    response_class.assume_role = assume_role


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
    SERVER["endpoint"] = f"http://{host}:{port}"
    patch_instance_key_name_filter()
    patch_key_pair_name_filter()
    patch_security_group_name_filter()
    patch_run_instances_fixture_times()
    patch_key_pair_fixture_create_time()
    patch_state_transition_reason()
    patch_create_image()
    patch_image_states()
    patch_deregister_image()
    patch_image_deprecation()
    patch_snapshot_owner_ids()
    patch_generic_filter_wildcards()
    patch_tag_lookup()
    patch_cloudtrail_lookup_events()
    patch_instance_address_filters()
    patch_terminated_instances()
    patch_route53_change_batches()
    patch_lambda_fixture_functions()
    patch_event_target_envelope()
    patch_lambda_bundle_functions()
    patch_step_functions_executions()
    check_step_functions_reach_this_server(port)
    patch_autoscaling_lifecycle_actions()
    patch_ecr_images()
    patch_ecr_image_fixtures()
    patch_ecs_task_containers()
    patch_ecs_service_deployments()
    patch_ecs_family_revision()
    patch_lambda_version_code()
    patch_sts_assume_role_denied()

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
