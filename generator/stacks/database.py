"""database: Aurora Serverless v2 (MySQL or PostgreSQL) with a TLS-enforcing cluster
parameter group, CMK encryption, 7+ day backups, one db.serverless instance, and an
RDS Proxy that requires TLS.  The cluster keeps a final snapshot on delete/replace."""

from __future__ import annotations

from troposphere import Equals, GetAtt, If, Ref, Sub, Template, iam, rds, secretsmanager

from generator import naming, policies
from generator.contract import Interface, StackInterface
from generator.spec import Platform
from generator.stacks._base import DEV_ONLY, Stack, keep, suppress
from generator.stacks.iam import PROXY_ROLE
from generator.stacks.secrets import DB_SECRET
from generator.stacks.security_groups import DB, DB_PROXY

NAME = "database"


def applies(spec: Platform) -> bool:
    return spec.database is not None


def _subnets(spec: Platform) -> str:
    assert spec.database is not None
    return naming.subnets_output(spec.database.subnets or spec.network.default_private_tier)


def interface(spec: Platform) -> StackInterface:
    assert spec.database is not None
    i = Interface()
    i.takes("Name")
    i.takes("Environment")
    i.takes("KmsKeyArn")
    i.takes(_subnets(spec), "CommaDelimitedList")
    i.takes(naming.sg_output(DB))
    i.takes(naming.secret_output(DB_SECRET))
    i.takes("DatabaseMinAcu", "Number", "Aurora Serverless v2 minimum capacity (ACU)")
    i.takes("DatabaseMaxAcu", "Number", "Aurora Serverless v2 maximum capacity (ACU)")
    if spec.database.proxy:
        i.takes(naming.sg_output(DB_PROXY))
        i.takes(naming.STACK_UID, description=naming.STACK_UID_DESCRIPTION)
        i.takes(PROXY_ROLE)
        i.gives("DatabaseProxyEndpoint", "RDS Proxy endpoint", public=True)
    i.gives("DatabaseEndpoint", "Endpoint clients connect to (the proxy when there is one)", public=True)
    i.gives("DatabaseClusterEndpoint", "Aurora cluster writer endpoint", public=True)
    i.gives("DatabasePort", "Database port", public=True)
    return i.freeze()


def tls_parameters(engine: str) -> dict[str, str]:
    if engine == "aurora-mysql":
        return {"require_secure_transport": "ON"}
    return {"rds.force_ssl": "1"}


def build(spec: Platform) -> Template:
    db = spec.database
    assert db is not None
    st = Stack(NAME, f"{db.engine} Serverless v2 cluster and RDS Proxy", interface(spec))
    st.t.add_condition("IsDev", Equals(st.ref("Environment"), "dev"))
    secret = st.ref(naming.secret_output(DB_SECRET))
    subnet_group = st.add(
        rds.DBSubnetGroup(
            "DatabaseSubnetGroup",
            DBSubnetGroupDescription="Database subnets",
            SubnetIds=st.ref(_subnets(spec)),
            Tags=naming.tags("db-subnets"),
        )
    )
    params = {**db.cluster_parameters, **tls_parameters(db.engine)}
    pg = st.add(
        rds.DBClusterParameterGroup(
            "DatabaseClusterParameterGroup",
            Description=f"{db.family} parameters: TLS required",
            Family=db.family,
            Parameters=dict(sorted(params.items())),
            Tags=naming.tags("db-params"),
        )
    )
    exports = ["audit", "error", "general", "slowquery"] if db.engine == "aurora-mysql" else ["postgresql"]
    cluster = st.add(
        suppress(
            keep(
                rds.DBCluster(
                    "DatabaseCluster",
                    Engine=db.engine,
                    EngineVersion=db.engine_version,
                    DatabaseName=db.database_name,
                    Port=db.port,
                    MasterUsername=Sub("{{resolve:secretsmanager:${S}:SecretString:username}}", S=secret),
                    MasterUserPassword=Sub("{{resolve:secretsmanager:${S}:SecretString:password}}", S=secret),
                    ServerlessV2ScalingConfiguration=rds.ServerlessV2ScalingConfiguration(
                        MinCapacity=st.ref("DatabaseMinAcu"), MaxCapacity=st.ref("DatabaseMaxAcu")
                    ),
                    StorageEncrypted=True,
                    KmsKeyId=st.ref("KmsKeyArn"),
                    BackupRetentionPeriod=db.backup_retention_days,
                    PreferredBackupWindow=db.backup_window,
                    PreferredMaintenanceWindow=db.maintenance_window,
                    DeletionProtection=If("IsDev", False, True),
                    CopyTagsToSnapshot=True,
                    EnableIAMDatabaseAuthentication=True,
                    EnableCloudwatchLogsExports=exports,
                    DBSubnetGroupName=Ref(subnet_group),
                    DBClusterParameterGroupName=Ref(pg),
                    VpcSecurityGroupIds=[st.ref(naming.sg_output(DB))],
                    Tags=naming.tags("db-cluster"),
                ),
                "Snapshot",
            ),
            guard={
                "rds_cluster_deletion_protection_enabled_check": DEV_ONLY.replace(
                    "deletion_protection.enabled", "DeletionProtection"
                )
            },
        )
    )
    # Enhanced monitoring's role lives beside the instance (CT.RDS.PR.2 follows only local roles).
    monitoring = st.add(
        iam.Role(
            "DatabaseMonitoringRole",
            Description="RDS enhanced monitoring publishes OS metrics to CloudWatch Logs",
            AssumeRolePolicyDocument=policies.trust("monitoring.rds.amazonaws.com"),
            ManagedPolicyArns=[
                Sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole")
            ],
            Tags=naming.tags("database-monitoring-role"),
        )
    )
    st.add(
        keep(
            rds.DBInstance(
                "DatabaseInstance",
                DBClusterIdentifier=Ref(cluster),
                DBInstanceClass="db.serverless",
                Engine=db.engine,
                PubliclyAccessible=False,
                AutoMinorVersionUpgrade=True,
                MonitoringInterval=60,
                MonitoringRoleArn=GetAtt(monitoring, "Arn"),
                Tags=naming.tags("db-instance"),
            ),
            "Delete",
        )
    )
    st.add(
        secretsmanager.SecretTargetAttachment(
            "DatabaseSecretAttachment", SecretId=secret, TargetId=Ref(cluster), TargetType="AWS::RDS::DBCluster"
        )
    )
    endpoint: object = GetAtt(cluster, "Endpoint.Address")
    if db.proxy:
        proxy = st.add(
            rds.DBProxy(
                "DatabaseProxy",
                DBProxyName=naming.unique_name("db-proxy"),
                EngineFamily="MYSQL" if db.engine == "aurora-mysql" else "POSTGRESQL",
                Auth=[rds.AuthFormat(AuthScheme="SECRETS", SecretArn=secret, IAMAuth="DISABLED")],
                RequireTLS=True,
                RoleArn=st.ref(PROXY_ROLE),
                VpcSubnetIds=st.ref(_subnets(spec)),
                VpcSecurityGroupIds=[st.ref(naming.sg_output(DB_PROXY))],
                IdleClientTimeout=1800,
                Tags=naming.tags("db-proxy"),
            )
        )
        st.add(
            rds.DBProxyTargetGroup(
                "DatabaseProxyTargetGroup",
                DBProxyName=Ref(proxy),
                TargetGroupName="default",
                DBClusterIdentifiers=[Ref(cluster)],
                ConnectionPoolConfigurationInfo=rds.ConnectionPoolConfigurationInfoFormat(
                    MaxConnectionsPercent=90, MaxIdleConnectionsPercent=50, ConnectionBorrowTimeout=120
                ),
            )
        )
        endpoint = GetAtt(proxy, "Endpoint")
        st.output("DatabaseProxyEndpoint", GetAtt(proxy, "Endpoint"))
    st.output("DatabaseEndpoint", endpoint)
    st.output("DatabaseClusterEndpoint", GetAtt(cluster, "Endpoint.Address"))
    st.output("DatabasePort", GetAtt(cluster, "Endpoint.Port"))
    return st.t
