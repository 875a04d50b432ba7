package io.github.cdkfleetjanitor.consumer;

import io.github.cdkfleetjanitor.AmiManager;
import io.github.cdkfleetjanitor.DrainTimeoutAction;
import io.github.cdkfleetjanitor.EcsInstanceDrainer;
import io.github.cdkfleetjanitor.FleetJanitorDashboard;
import io.github.cdkfleetjanitor.ImageRetention;
import io.github.cdkfleetjanitor.InstanceDecommissioner;
import io.github.cdkfleetjanitor.PackerCleaner;
import io.github.cdkfleetjanitor.PackerCleanerAction;
import io.github.cdkfleetjanitor.RetentionAction;
import io.github.cdkfleetjanitor.TagPolicyEngine;
import io.github.cdkfleetjanitor.TagRule;
import io.github.cdkfleetjanitor.TagValue;
import io.github.cdkfleetjanitor.TaskDefinitionRetention;
import io.github.cdkfleetjanitor.ViolationAction;
import java.util.List;
import java.util.Map;
import software.amazon.awscdk.App;
import software.amazon.awscdk.Duration;
import software.amazon.awscdk.RemovalPolicy;
import software.amazon.awscdk.Stack;
import software.amazon.awscdk.services.autoscaling.AutoScalingGroup;
import software.amazon.awscdk.services.ec2.InstanceType;
import software.amazon.awscdk.services.ec2.LaunchTemplate;
import software.amazon.awscdk.services.ec2.UserData;
import software.amazon.awscdk.services.ec2.Vpc;
import software.amazon.awscdk.services.ecr.Repository;
import software.amazon.awscdk.services.ecs.AmiHardwareType;
import software.amazon.awscdk.services.ecs.AsgCapacityProvider;
import software.amazon.awscdk.services.ecs.Cluster;
import software.amazon.awscdk.services.ecs.EcsOptimizedImage;
import software.amazon.awscdk.services.iam.Role;
import software.amazon.awscdk.services.iam.ServicePrincipal;
import software.amazon.awscdk.services.lambda.Function;
import software.amazon.awscdk.services.route53.HostedZone;
import software.amazon.awscdk.services.route53.HostedZoneAttributes;
import software.amazon.awscdk.services.route53.IHostedZone;
import software.amazon.awscdk.services.scheduler.ScheduleExpression;

/**
 * Java consumer app: the same stack as ../typescript/app.ts, built with the jsii Java package from
 * dist/java and checked by ../check-template.cjs (run.sh does both).
 *
 * <p>Usage: ConsumerApp &lt;cdk.out dir&gt; (or set CDK_OUTDIR)
 */
public final class ConsumerApp {
  private ConsumerApp() {}

  public static void main(final String[] args) {
    String outdir = args.length > 0 ? args[0] : System.getenv("CDK_OUTDIR");
    if (outdir == null || outdir.isEmpty()) {
      System.err.println("usage: ConsumerApp <cdk.out dir>  (or set CDK_OUTDIR)");
      System.exit(2);
    }
    synth(outdir);
  }

  static void synth(final String outdir) {
    // --- example: java ---
    App app = App.Builder.create().outdir(outdir).build();
    Stack stack = new Stack(app, "ConsumerStack");

    PackerCleaner cleaner = PackerCleaner.Builder.create(stack, "Cleaner")
        .action(PackerCleanerAction.TERMINATE)
        .maxAge(Duration.hours(3))
        .tagSelector(Map.of("team", "platform"))
        .cleanupKeyPairs(true)
        .maxActionsPerRun(50)
        .schedule(ScheduleExpression.rate(Duration.minutes(30)))
        .build();
    // cleaner.getTopic() receives each run's report and the failure alarms.
    System.out.println("report topic: " + cleaner.getTopic().getNode().getPath());

    AmiManager ami = AmiManager.Builder.create(stack, "Ami")
        .instanceId("i-0123456789abcdef0")
        .imageName("golden-web")
        .tags(Map.of("team", "platform"))
        .shareWithAccounts(List.of("111122223333"))
        .deprecateAfter(Duration.days(90))
        .removalPolicy(RemovalPolicy.RETAIN)
        .build();
    // ami.getImageId() (or ami.getMachineImage()) is available once the image is; ami.getTopic() gets its reports.
    System.out.println("image: " + ami.getResource().getNode().getPath());

    TagPolicyEngine tags = TagPolicyEngine.Builder.create(stack, "Tags")
        .rules(List.of(
            TagRule.builder().tagKey("CostCenter").required(true).defaultValue(TagValue.fixed("unassigned"))
                .allowedValues(List.of("1001", "1002", "unassigned")).build(),
            TagRule.builder().tagKey("CreatedBy").required(true).defaultValue(TagValue.creator()).build(),
            TagRule.builder().tagKey("LaunchDate").required(true).defaultValue(TagValue.launchDate()).build(),
            TagRule.builder().tagKey("Environment").required(true).pattern("^(dev|staging|prod)$")
                .onViolation(ViolationAction.NOTIFY).build()))
        .instanceSelector(Map.of("managed", "true"))
        .untaggedAction(ViolationAction.STOP)
        .gracePeriod(Duration.days(3))
        .build();
    // tags.getTable() holds the rules; add items by hand to edit rules live.
    System.out.println("rule table: " + tags.getTable().getNode().getPath());

    IHostedZone zone = HostedZone.fromHostedZoneAttributes(stack, "Zone", HostedZoneAttributes.builder()
        .hostedZoneId("Z0123456789ABCDEFGHIJ").zoneName("internal.example.com").build());
    InstanceDecommissioner decommissioner = InstanceDecommissioner.Builder.create(stack, "Decommissioner")
        .hostedZones(List.of(zone))
        .recordNameTemplates(List.of("{tag:Name}.internal.example.com", "{instanceId}.internal.example.com"))
        .deleteAlarms(true)
        .hooks(List.of(Function.fromFunctionArn(stack, "ChefCleanup",
            "arn:aws:lambda:us-east-1:111122223333:function:chef-node-cleanup")))
        .instanceSelector(Map.of("team", "platform"))
        .snapshotRetention(Duration.days(30))
        .build();
    // decommissioner.getTable() holds a snapshot of every instance; hooks get it when the instance dies.
    System.out.println("snapshot table: " + decommissioner.getTable().getNode().getPath());

    // An ECS cluster on Graviton container instances (launch template: ECS-optimized AL2023, IMDSv2).
    Vpc vpc = Vpc.Builder.create(stack, "Vpc").maxAzs(2).natGateways(1).build();
    Cluster cluster = Cluster.Builder.create(stack, "Cluster").vpc(vpc).build();
    LaunchTemplate launchTemplate = LaunchTemplate.Builder.create(stack, "ContainerInstances")
        .instanceType(new InstanceType("m7g.large"))
        .machineImage(EcsOptimizedImage.amazonLinux2023(AmiHardwareType.ARM))
        .userData(UserData.forLinux()) // the cluster adds ECS_CLUSTER=<name> to it
        .role(Role.Builder.create(stack, "InstanceRole").assumedBy(new ServicePrincipal("ec2.amazonaws.com")).build())
        .requireImdsv2(true)
        .build();
    AutoScalingGroup capacity = AutoScalingGroup.Builder.create(stack, "Capacity")
        .vpc(vpc).launchTemplate(launchTemplate).minCapacity(1).maxCapacity(10).build();
    // enableManagedDraining(false): aws-cdk-lib adds no drain hook of its own; the drainer drains.
    cluster.addAsgCapacityProvider(AsgCapacityProvider.Builder.create(stack, "CapacityProvider")
        .autoScalingGroup(capacity).enableManagedDraining(false).build());

    EcsInstanceDrainer drainer = EcsInstanceDrainer.Builder.create(stack, "Drainer")
        .cluster(cluster)
        .autoScalingGroup(capacity)
        .maxDrainTime(Duration.hours(4))
        .heartbeatTimeout(Duration.minutes(10))
        .onTimeout(DrainTimeoutAction.ABANDON)
        .stopStandaloneTasksAfter(Duration.hours(1))
        .notifyOnEveryDrain(true)
        .build();
    // drainer.getStateMachine() carries each drain; drainer.getTopic() gets the drain reports and the alarms.
    System.out.println("drain state machine: " + drainer.getStateMachine().getNode().getPath());

    Repository images = Repository.Builder.create(stack, "Images").repositoryName("web-images").build();
    ImageRetention retention = ImageRetention.Builder.create(stack, "Retention")
        .repositories(List.of(images))
        .keepNewest(5)
        .minAge(Duration.days(14))
        .keepTagPatterns(List.of("latest", "release-*"))
        .pinnedImages(List.of("web-images:v1.0.0"))
        .consumerAccountRoles(List.of("arn:aws:iam::111122223333:role/ImageUsageReader"))
        .action(RetentionAction.DELETE)
        .taskDefinitions(TaskDefinitionRetention.builder().keepNewestRevisions(3).deleteInactive(true).build())
        .schedule(ScheduleExpression.rate(Duration.hours(12)))
        .build();
    // retention.getRole() is the principal the consumer accounts' reader roles trust; retention.getTopic() gets each run's report.
    System.out.println("retention role: " + retention.getRole().getNode().getPath());

    // One CloudWatch dashboard, a row per janitor: resources and actions, handler errors and duration, alarm states.
    FleetJanitorDashboard dashboard = FleetJanitorDashboard.Builder.create(stack, "Dashboard")
        .dashboardName("fleet-janitor")
        .janitors(List.of(cleaner, ami, tags, decommissioner, drainer))
        .period(Duration.minutes(15))
        .build();
    dashboard.addJanitor(retention);

    app.synth();
    // --- end example ---
  }
}
