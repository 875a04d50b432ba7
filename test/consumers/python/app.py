"""Python consumer app: the same stack as ../typescript/app.ts, built with the cdk_fleet_janitor
wheel from dist/python and checked by ../check-template.cjs (run.sh does both).

Usage: python app.py <cdk.out dir>   (or set CDK_OUTDIR)
"""
import os
import sys

from aws_cdk import App, Duration, RemovalPolicy, Stack
from aws_cdk.aws_autoscaling import AutoScalingGroup
from aws_cdk.aws_ec2 import InstanceType, LaunchTemplate, UserData, Vpc
from aws_cdk.aws_ecr import Repository
from aws_cdk.aws_ecs import AmiHardwareType, AsgCapacityProvider, Cluster, EcsOptimizedImage
from aws_cdk.aws_iam import Role, ServicePrincipal
from aws_cdk.aws_lambda import Function
from aws_cdk.aws_route53 import HostedZone
from aws_cdk.aws_scheduler import ScheduleExpression
from cdk_fleet_janitor import (
    AmiManager,
    DrainTimeoutAction,
    EcsInstanceDrainer,
    FleetJanitorDashboard,
    ImageRetention,
    InstanceDecommissioner,
    PackerCleaner,
    PackerCleanerAction,
    RetentionAction,
    TagPolicyEngine,
    TagRule,
    TagValue,
    TaskDefinitionRetention,
    ViolationAction,
)


def synth_consumer_app(outdir: str) -> None:
    # --- example: python ---
    app = App(outdir=outdir)
    stack = Stack(app, "ConsumerStack")

    cleaner = PackerCleaner(
        stack,
        "Cleaner",
        action=PackerCleanerAction.TERMINATE,
        max_age=Duration.hours(3),
        tag_selector={"team": "platform"},
        cleanup_key_pairs=True,
        max_actions_per_run=50,
        schedule=ScheduleExpression.rate(Duration.minutes(30)),
    )
    # cleaner.topic receives each run's report and the failure alarms.
    print(f"report topic: {cleaner.topic.node.path}")

    ami = AmiManager(
        stack,
        "Ami",
        instance_id="i-0123456789abcdef0",
        image_name="golden-web",
        tags={"team": "platform"},
        share_with_accounts=["111122223333"],
        deprecate_after=Duration.days(90),
        removal_policy=RemovalPolicy.RETAIN,
    )
    # ami.image_id (or ami.machine_image) is available once the image is; ami.topic gets its reports.
    print(f"image: {ami.resource.node.path}")

    tags = TagPolicyEngine(
        stack,
        "Tags",
        rules=[
            TagRule(
                tag_key="CostCenter",
                required=True,
                default_value=TagValue.fixed("unassigned"),
                allowed_values=["1001", "1002", "unassigned"],
            ),
            TagRule(tag_key="CreatedBy", required=True, default_value=TagValue.creator()),
            TagRule(tag_key="LaunchDate", required=True, default_value=TagValue.launch_date()),
            TagRule(
                tag_key="Environment",
                required=True,
                pattern="^(dev|staging|prod)$",
                on_violation=ViolationAction.NOTIFY,
            ),
        ],
        instance_selector={"managed": "true"},
        untagged_action=ViolationAction.STOP,
        grace_period=Duration.days(3),
    )
    # tags.table holds the rules; add items by hand to edit rules live.
    print(f"rule table: {tags.table.node.path}")

    zone = HostedZone.from_hosted_zone_attributes(
        stack, "Zone", hosted_zone_id="Z0123456789ABCDEFGHIJ", zone_name="internal.example.com"
    )
    decommissioner = InstanceDecommissioner(
        stack,
        "Decommissioner",
        hosted_zones=[zone],
        record_name_templates=["{tag:Name}.internal.example.com", "{instanceId}.internal.example.com"],
        delete_alarms=True,
        hooks=[
            Function.from_function_arn(
                stack, "ChefCleanup", "arn:aws:lambda:us-east-1:111122223333:function:chef-node-cleanup"
            )
        ],
        instance_selector={"team": "platform"},
        snapshot_retention=Duration.days(30),
    )
    # decommissioner.table holds a snapshot of every instance; hooks get it when the instance dies.
    print(f"snapshot table: {decommissioner.table.node.path}")

    # An ECS cluster on Graviton container instances (launch template: ECS-optimized AL2023, IMDSv2).
    vpc = Vpc(stack, "Vpc", max_azs=2, nat_gateways=1)
    cluster = Cluster(stack, "Cluster", vpc=vpc)
    launch_template = LaunchTemplate(
        stack,
        "ContainerInstances",
        instance_type=InstanceType("m7g.large"),
        machine_image=EcsOptimizedImage.amazon_linux2023(AmiHardwareType.ARM),
        user_data=UserData.for_linux(),  # the cluster adds ECS_CLUSTER=<name> to it
        role=Role(stack, "InstanceRole", assumed_by=ServicePrincipal("ec2.amazonaws.com")),
        require_imdsv2=True,
    )
    capacity = AutoScalingGroup(stack, "Capacity", vpc=vpc, launch_template=launch_template, min_capacity=1, max_capacity=10)
    # enable_managed_draining=False: aws-cdk-lib adds no drain hook of its own; the drainer drains.
    cluster.add_asg_capacity_provider(
        AsgCapacityProvider(stack, "CapacityProvider", auto_scaling_group=capacity, enable_managed_draining=False)
    )

    drainer = EcsInstanceDrainer(
        stack,
        "Drainer",
        cluster=cluster,
        auto_scaling_group=capacity,
        max_drain_time=Duration.hours(4),
        heartbeat_timeout=Duration.minutes(10),
        on_timeout=DrainTimeoutAction.ABANDON,
        stop_standalone_tasks_after=Duration.hours(1),
        notify_on_every_drain=True,
    )
    # drainer.state_machine carries each drain; drainer.topic gets the drain reports and the alarms.
    print(f"drain state machine: {drainer.state_machine.node.path}")

    images = Repository(stack, "Images", repository_name="web-images")
    retention = ImageRetention(
        stack,
        "Retention",
        repositories=[images],
        keep_newest=5,
        min_age=Duration.days(14),
        keep_tag_patterns=["latest", "release-*"],
        pinned_images=["web-images:v1.0.0"],
        consumer_account_roles=["arn:aws:iam::111122223333:role/ImageUsageReader"],
        action=RetentionAction.DELETE,
        task_definitions=TaskDefinitionRetention(keep_newest_revisions=3, delete_inactive=True),
        schedule=ScheduleExpression.rate(Duration.hours(12)),
    )
    # retention.role is the principal the consumer accounts' reader roles trust; retention.topic gets each run's report.
    print(f"retention role: {retention.role.node.path}")

    # One CloudWatch dashboard, a row per janitor: resources and actions, handler errors and duration, alarm states.
    dashboard = FleetJanitorDashboard(
        stack,
        "Dashboard",
        dashboard_name="fleet-janitor",
        janitors=[cleaner, ami, tags, decommissioner, drainer],
        period=Duration.minutes(15),
    )
    dashboard.add_janitor(retention)

    app.synth()
    # --- end example ---


if __name__ == "__main__":
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CDK_OUTDIR")
    if not outdir:
        sys.exit("usage: app.py <cdk.out dir>  (or set CDK_OUTDIR)")
    synth_consumer_app(outdir)
