"""ecr: private image repositories with scan on push, tag mutability per spec,
a lifecycle policy and a repository policy for ECS pulls from this account."""

from __future__ import annotations

import json

from awacs.aws import Allow, Condition, Principal, Statement, StringEquals
from troposphere import GetAtt, Sub, Template, ecr

from generator import naming, policies
from generator.contract import Interface, StackInterface
from generator.spec import Platform, Repository
from generator.stacks._base import Stack, keep

NAME = "ecr"


def applies(spec: Platform) -> bool:
    return bool(spec.repositories)


def interface(spec: Platform) -> StackInterface:
    i = Interface()
    i.takes("Name")
    i.takes("Environment")
    i.takes(naming.STACK_UID, description=naming.STACK_UID_DESCRIPTION)
    i.takes("KmsKeyArn")
    for r in spec.repositories:
        i.gives(naming.repo_output(r.name, "Uri"), f"URI of repository {r.name}", public=True)
        i.gives(naming.repo_output(r.name, "Arn"), f"ARN of repository {r.name}")
    return i.freeze()


def lifecycle(r: Repository) -> str:
    rules = [
        {
            "rulePriority": 10,
            "description": f"Keep the last {r.keep_last_tagged} images tagged {r.tag_prefix}*",
            "selection": {
                "tagStatus": "tagged",
                "tagPrefixList": [r.tag_prefix],
                "countType": "imageCountMoreThan",
                "countNumber": r.keep_last_tagged,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 20,
            "description": f"Expire untagged images after {r.expire_untagged_days} days",
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": r.expire_untagged_days,
            },
            "action": {"type": "expire"},
        },
    ]
    return json.dumps({"rules": rules}, sort_keys=True)


def build(spec: Platform) -> Template:
    st = Stack(NAME, "ECR repositories", interface(spec))
    for r in spec.repositories:
        repo = st.add(
            keep(
                ecr.Repository(
                    naming.logical(r.name, "Repository"),
                    RepositoryName=naming.repository_name(r.name),
                    ImageScanningConfiguration=ecr.ImageScanningConfiguration(ScanOnPush=r.scan_on_push),
                    ImageTagMutability="IMMUTABLE" if r.immutable_tags else "MUTABLE",
                    EncryptionConfiguration=ecr.EncryptionConfiguration(
                        EncryptionType="KMS", KmsKey=st.ref("KmsKeyArn")
                    ),
                    LifecyclePolicy=ecr.LifecyclePolicy(LifecyclePolicyText=lifecycle(r)),
                    RepositoryPolicyText=policies.doc(
                        [
                            Statement(
                                Sid="AllowEcsTaskPulls",
                                Effect=Allow,
                                Principal=Principal("Service", ["ecs-tasks.amazonaws.com"]),
                                Action=list(policies.ECR_PULL),
                                Condition=Condition(StringEquals({"aws:SourceAccount": Sub("${AWS::AccountId}")})),
                            )
                        ]
                    ),
                    Tags=naming.tags(f"ecr-{r.name}"),
                )
            )
        )
        st.output(naming.repo_output(r.name, "Uri"), GetAtt(repo, "RepositoryUri"))
        st.output(naming.repo_output(r.name, "Arn"), GetAtt(repo, "Arn"))
    return st.t
