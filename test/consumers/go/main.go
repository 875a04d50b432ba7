// Go consumer app: synthesizes the stack every consumer app builds (see ../typescript/app.ts)
// from the jsii-generated Go module in dist/go; run.sh checks it with ../check-template.cjs.
// Usage: consumer <outdir>, or CDK_OUTDIR=<outdir> consumer.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsautoscaling"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecr"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsroute53"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdk-fleet-janitor/cdk-fleet-janitor-go/cdkfleetjanitor"
)

func main() {
	outdir := os.Getenv("CDK_OUTDIR")
	if len(os.Args) > 1 {
		outdir = os.Args[1]
	}
	if outdir == "" {
		fmt.Fprintln(os.Stderr, "usage: consumer <outdir> (or set CDK_OUTDIR)")
		os.Exit(2)
	}
	defer jsii.Close()

	// --- example: go ---
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(outdir)})
	stack := awscdk.NewStack(app, jsii.String("ConsumerStack"), nil)

	cleaner := cdkfleetjanitor.NewPackerCleaner(stack, jsii.String("Cleaner"), &cdkfleetjanitor.PackerCleanerProps{
		Action:           cdkfleetjanitor.PackerCleanerAction_TERMINATE,
		MaxAge:           awscdk.Duration_Hours(jsii.Number(3)),
		TagSelector:      &map[string]*string{"team": jsii.String("platform")},
		CleanupKeyPairs:  jsii.Bool(true),
		MaxActionsPerRun: jsii.Number(50),
		Schedule:         awsscheduler.ScheduleExpression_Rate(awscdk.Duration_Minutes(jsii.Number(30))),
	})
	// cleaner.Topic() receives each run's report and the failure alarms.
	fmt.Printf("report topic: %s\n", *cleaner.Topic().Node().Path())

	ami := cdkfleetjanitor.NewAmiManager(stack, jsii.String("Ami"), &cdkfleetjanitor.AmiManagerProps{
		InstanceId:        jsii.String("i-0123456789abcdef0"),
		ImageName:         jsii.String("golden-web"),
		Tags:              &map[string]*string{"team": jsii.String("platform")},
		ShareWithAccounts: &[]*string{jsii.String("111122223333")},
		DeprecateAfter:    awscdk.Duration_Days(jsii.Number(90)),
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
	})
	// ami.ImageId() (or ami.MachineImage()) is available once the image is; ami.Topic() gets its reports.
	fmt.Printf("image: %s\n", *ami.Resource().Node().Path())

	tags := cdkfleetjanitor.NewTagPolicyEngine(stack, jsii.String("Tags"), &cdkfleetjanitor.TagPolicyEngineProps{
		Rules: &[]*cdkfleetjanitor.TagRule{
			{TagKey: jsii.String("CostCenter"), Required: jsii.Bool(true), DefaultValue: cdkfleetjanitor.TagValue_Fixed(jsii.String("unassigned")),
				AllowedValues: jsii.Strings("1001", "1002", "unassigned")},
			{TagKey: jsii.String("CreatedBy"), Required: jsii.Bool(true), DefaultValue: cdkfleetjanitor.TagValue_Creator()},
			{TagKey: jsii.String("LaunchDate"), Required: jsii.Bool(true), DefaultValue: cdkfleetjanitor.TagValue_LaunchDate()},
			{TagKey: jsii.String("Environment"), Required: jsii.Bool(true), Pattern: jsii.String("^(dev|staging|prod)$"),
				OnViolation: cdkfleetjanitor.ViolationAction_NOTIFY},
		},
		InstanceSelector: &map[string]*string{"managed": jsii.String("true")},
		UntaggedAction:   cdkfleetjanitor.ViolationAction_STOP,
		GracePeriod:      awscdk.Duration_Days(jsii.Number(3)),
	})
	// tags.Table() holds the rules; add items by hand to edit rules live.
	fmt.Printf("rule table: %s\n", *tags.Table().Node().Path())

	zone := awsroute53.HostedZone_FromHostedZoneAttributes(stack, jsii.String("Zone"), &awsroute53.HostedZoneAttributes{
		HostedZoneId: jsii.String("Z0123456789ABCDEFGHIJ"),
		ZoneName:     jsii.String("internal.example.com"),
	})
	decommissioner := cdkfleetjanitor.NewInstanceDecommissioner(stack, jsii.String("Decommissioner"), &cdkfleetjanitor.InstanceDecommissionerProps{
		HostedZones:         &[]awsroute53.IHostedZone{zone},
		RecordNameTemplates: jsii.Strings("{tag:Name}.internal.example.com", "{instanceId}.internal.example.com"),
		DeleteAlarms:        jsii.Bool(true),
		Hooks: &[]awslambda.IFunction{awslambda.Function_FromFunctionArn(stack, jsii.String("ChefCleanup"),
			jsii.String("arn:aws:lambda:us-east-1:111122223333:function:chef-node-cleanup"))},
		InstanceSelector:  &map[string]*string{"team": jsii.String("platform")},
		SnapshotRetention: awscdk.Duration_Days(jsii.Number(30)),
	})
	// decommissioner.Table() holds a snapshot of every instance; hooks get it when the instance dies.
	fmt.Printf("snapshot table: %s\n", *decommissioner.Table().Node().Path())

	// An ECS cluster on Graviton container instances (launch template: ECS-optimized AL2023, IMDSv2).
	vpc := awsec2.NewVpc(stack, jsii.String("Vpc"), &awsec2.VpcProps{MaxAzs: jsii.Number(2), NatGateways: jsii.Number(1)})
	cluster := awsecs.NewCluster(stack, jsii.String("Cluster"), &awsecs.ClusterProps{Vpc: vpc})
	launchTemplate := awsec2.NewLaunchTemplate(stack, jsii.String("ContainerInstances"), &awsec2.LaunchTemplateProps{
		InstanceType: awsec2.NewInstanceType(jsii.String("m7g.large")),
		MachineImage: awsecs.EcsOptimizedImage_AmazonLinux2023(awsecs.AmiHardwareType_ARM, nil),
		UserData:     awsec2.UserData_ForLinux(nil), // the cluster adds ECS_CLUSTER=<name> to it
		Role: awsiam.NewRole(stack, jsii.String("InstanceRole"), &awsiam.RoleProps{
			AssumedBy: awsiam.NewServicePrincipal(jsii.String("ec2.amazonaws.com"), nil),
		}),
		RequireImdsv2: jsii.Bool(true),
	})
	capacity := awsautoscaling.NewAutoScalingGroup(stack, jsii.String("Capacity"), &awsautoscaling.AutoScalingGroupProps{
		Vpc: vpc, LaunchTemplate: launchTemplate, MinCapacity: jsii.Number(1), MaxCapacity: jsii.Number(10),
	})
	// EnableManagedDraining false: aws-cdk-lib adds no drain hook of its own; the drainer drains.
	cluster.AddAsgCapacityProvider(awsecs.NewAsgCapacityProvider(stack, jsii.String("CapacityProvider"), &awsecs.AsgCapacityProviderProps{
		AutoScalingGroup: capacity, EnableManagedDraining: jsii.Bool(false),
	}), nil)

	drainer := cdkfleetjanitor.NewEcsInstanceDrainer(stack, jsii.String("Drainer"), &cdkfleetjanitor.EcsInstanceDrainerProps{
		Cluster:                  cluster,
		AutoScalingGroup:         capacity,
		MaxDrainTime:             awscdk.Duration_Hours(jsii.Number(4)),
		HeartbeatTimeout:         awscdk.Duration_Minutes(jsii.Number(10)),
		OnTimeout:                cdkfleetjanitor.DrainTimeoutAction_ABANDON,
		StopStandaloneTasksAfter: awscdk.Duration_Hours(jsii.Number(1)),
		NotifyOnEveryDrain:       jsii.Bool(true),
	})
	// drainer.StateMachine() carries each drain; drainer.Topic() gets the drain reports and the alarms.
	fmt.Printf("drain state machine: %s\n", *drainer.StateMachine().Node().Path())

	images := awsecr.NewRepository(stack, jsii.String("Images"), &awsecr.RepositoryProps{RepositoryName: jsii.String("web-images")})
	retention := cdkfleetjanitor.NewImageRetention(stack, jsii.String("Retention"), &cdkfleetjanitor.ImageRetentionProps{
		Repositories:         &[]awsecr.IRepository{images},
		KeepNewest:           jsii.Number(5),
		MinAge:               awscdk.Duration_Days(jsii.Number(14)),
		KeepTagPatterns:      jsii.Strings("latest", "release-*"),
		PinnedImages:         jsii.Strings("web-images:v1.0.0"),
		ConsumerAccountRoles: jsii.Strings("arn:aws:iam::111122223333:role/ImageUsageReader"),
		Action:               cdkfleetjanitor.RetentionAction_DELETE,
		TaskDefinitions:      &cdkfleetjanitor.TaskDefinitionRetention{KeepNewestRevisions: jsii.Number(3), DeleteInactive: jsii.Bool(true)},
		Schedule:             awsscheduler.ScheduleExpression_Rate(awscdk.Duration_Hours(jsii.Number(12))),
	})
	// retention.Role() is the principal the consumer accounts' reader roles trust; retention.Topic() gets each run's report.
	fmt.Printf("retention role: %s\n", *retention.Role().Node().Path())

	// One CloudWatch dashboard, a row per janitor: resources and actions, handler errors and duration, alarm states.
	dashboard := cdkfleetjanitor.NewFleetJanitorDashboard(stack, jsii.String("Dashboard"), &cdkfleetjanitor.FleetJanitorDashboardProps{
		DashboardName: jsii.String("fleet-janitor"),
		Janitors:      &[]cdkfleetjanitor.IFleetJanitor{cleaner, ami, tags, decommissioner, drainer},
		Period:        awscdk.Duration_Minutes(jsii.Number(15)),
	})
	dashboard.AddJanitor(retention)

	app.Synth(nil)
	// --- end example ---
}
