//! A minimal valid manifest for every built-in kind we serve, in an order `kubectl apply -f`
//! can create them in (the namespace first). Namespaced objects live in `rt`.

/// One manifest.
pub struct Manifest {
    /// API group of the kind ("" for core).
    pub group: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// File name stem.
    pub file: &'static str,
    /// The YAML.
    pub yaml: &'static str,
}

const fn m(
    group: &'static str,
    kind: &'static str,
    file: &'static str,
    yaml: &'static str,
) -> Manifest {
    Manifest {
        group,
        kind,
        file,
        yaml,
    }
}

/// Every manifest, namespace first.
pub fn manifests() -> Vec<Manifest> {
    vec![
        m(
            "",
            "Namespace",
            "namespace",
            "apiVersion: v1
kind: Namespace
metadata:
  name: rt
",
        ),
        // Before the pod: admission refuses a pod whose service account does not exist, and
        // with no controllers running nothing makes `default`.
        m(
            "",
            "ServiceAccount",
            "serviceaccount",
            "apiVersion: v1
kind: ServiceAccount
metadata:
  name: sa
  namespace: rt
",
        ),
        m(
            "",
            "Pod",
            "pod",
            "apiVersion: v1
kind: Pod
metadata:
  name: p
  namespace: rt
spec:
  serviceAccountName: sa
  containers:
  - name: c
    image: busybox
    command: [\"sleep\", \"3600\"]
    ports:
    - containerPort: 80
    env:
    - name: A
      value: b
",
        ),
        m(
            "",
            "Service",
            "service",
            "apiVersion: v1
kind: Service
metadata:
  name: s
  namespace: rt
spec:
  selector:
    app: x
  ports:
  - name: http
    port: 80
    targetPort: 8080
  - name: dns
    port: 53
    protocol: UDP
",
        ),
        m(
            "",
            "Endpoints",
            "endpoints",
            "apiVersion: v1
kind: Endpoints
metadata:
  name: s
  namespace: rt
subsets:
- addresses:
  - ip: 10.0.0.1
  ports:
  - port: 8080
    name: http
",
        ),
        m(
            "",
            "ConfigMap",
            "configmap",
            "apiVersion: v1
kind: ConfigMap
metadata:
  name: cm
  namespace: rt
data:
  a: b
",
        ),
        // `data`, not `stringData`: stringData is write-only, so re-applying it is never
        // "unchanged", upstream included (kubernetes/kubernetes#87736).
        m(
            "",
            "Secret",
            "secret",
            "apiVersion: v1
kind: Secret
metadata:
  name: sec
  namespace: rt
type: Opaque
data:
  password: aHVudGVyMg==
",
        ),
        m(
            "",
            "Node",
            "node",
            "apiVersion: v1
kind: Node
metadata:
  name: rt-node
  labels:
    kubernetes.io/hostname: rt-node
spec:
  podCIDR: 10.244.9.0/24
",
        ),
        m(
            "",
            "Event",
            "event",
            "apiVersion: v1
kind: Event
metadata:
  name: ev1
  namespace: rt
involvedObject:
  kind: Pod
  name: p
  namespace: rt
reason: Tested
message: applied twice
type: Normal
",
        ),
        m(
            "",
            "ReplicationController",
            "replicationcontroller",
            "apiVersion: v1
kind: ReplicationController
metadata:
  name: rc
  namespace: rt
spec:
  replicas: 0
  selector:
    app: rc
  template:
    metadata:
      labels:
        app: rc
    spec:
      containers:
      - name: c
        image: busybox
",
        ),
        m(
            "",
            "PodTemplate",
            "podtemplate",
            "apiVersion: v1
kind: PodTemplate
metadata:
  name: pt
  namespace: rt
template:
  metadata:
    labels:
      app: pt
  spec:
    containers:
    - name: c
      image: busybox
",
        ),
        m(
            "",
            "LimitRange",
            "limitrange",
            "apiVersion: v1
kind: LimitRange
metadata:
  name: lr
  namespace: rt
spec:
  limits:
  - type: Container
    default:
      cpu: 500m
    defaultRequest:
      cpu: 100m
",
        ),
        m(
            "",
            "ResourceQuota",
            "resourcequota",
            "apiVersion: v1
kind: ResourceQuota
metadata:
  name: rq
  namespace: rt
spec:
  hard:
    pods: \"10\"
",
        ),
        m(
            "",
            "PersistentVolume",
            "persistentvolume",
            "apiVersion: v1
kind: PersistentVolume
metadata:
  name: rt-pv
spec:
  capacity:
    storage: 1Gi
  accessModes: [ReadWriteOnce]
  hostPath:
    path: /tmp/rt-pv
",
        ),
        m(
            "",
            "PersistentVolumeClaim",
            "persistentvolumeclaim",
            "apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: pvc
  namespace: rt
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 1Gi
",
        ),
        m(
            "apps",
            "Deployment",
            "deployment",
            "apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
  namespace: rt
spec:
  replicas: 1
  selector:
    matchLabels:
      app: d
  template:
    metadata:
      labels:
        app: d
    spec:
      containers:
      - name: c
        image: busybox
        ports:
        - containerPort: 80
      volumes:
      - name: scratch
        emptyDir: {}
",
        ),
        m(
            "apps",
            "ReplicaSet",
            "replicaset",
            "apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: rs
  namespace: rt
spec:
  replicas: 0
  selector:
    matchLabels:
      app: rs
  template:
    metadata:
      labels:
        app: rs
    spec:
      containers:
      - name: c
        image: busybox
",
        ),
        m(
            "apps",
            "DaemonSet",
            "daemonset",
            "apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: ds
  namespace: rt
spec:
  selector:
    matchLabels:
      app: ds
  template:
    metadata:
      labels:
        app: ds
    spec:
      containers:
      - name: c
        image: busybox
",
        ),
        m(
            "apps",
            "StatefulSet",
            "statefulset",
            "apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: sts
  namespace: rt
spec:
  serviceName: s
  replicas: 0
  selector:
    matchLabels:
      app: sts
  template:
    metadata:
      labels:
        app: sts
    spec:
      containers:
      - name: c
        image: busybox
",
        ),
        m(
            "apps",
            "ControllerRevision",
            "controllerrevision",
            "apiVersion: apps/v1
kind: ControllerRevision
metadata:
  name: cr
  namespace: rt
revision: 1
data:
  spec: {}
",
        ),
        m(
            "autoscaling",
            "HorizontalPodAutoscaler",
            "hpa",
            "apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: hpa
  namespace: rt
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: web
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - type: Resource
    resource:
      name: cpu
      target:
        type: Utilization
        averageUtilization: 50
",
        ),
        m(
            "batch",
            "Job",
            "job",
            "apiVersion: batch/v1
kind: Job
metadata:
  name: j
  namespace: rt
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: busybox
",
        ),
        m(
            "batch",
            "CronJob",
            "cronjob",
            "apiVersion: batch/v1
kind: CronJob
metadata:
  name: cj
  namespace: rt
spec:
  schedule: \"*/5 * * * *\"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: c
            image: busybox
",
        ),
        m(
            "coordination.k8s.io",
            "Lease",
            "lease",
            "apiVersion: coordination.k8s.io/v1
kind: Lease
metadata:
  name: l
  namespace: rt
spec:
  holderIdentity: me
  leaseDurationSeconds: 15
",
        ),
        m(
            "discovery.k8s.io",
            "EndpointSlice",
            "endpointslice",
            "apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: s-abc
  namespace: rt
  labels:
    kubernetes.io/service-name: s
addressType: IPv4
endpoints:
- addresses: [10.0.0.1]
ports:
- name: http
  port: 8080
  protocol: TCP
",
        ),
        m(
            "events.k8s.io",
            "Event",
            "events-event",
            "apiVersion: events.k8s.io/v1
kind: Event
metadata:
  name: ev2
  namespace: rt
eventTime: \"2024-01-01T00:00:00.000000Z\"
reportingController: example.com/tester
reportingInstance: tester-1
action: Apply
reason: Tested
type: Normal
regarding:
  kind: Pod
  name: p
  namespace: rt
",
        ),
        m(
            "policy",
            "PodDisruptionBudget",
            "poddisruptionbudget",
            "apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: pdb
  namespace: rt
spec:
  minAvailable: 1
  selector:
    matchLabels:
      app: d
",
        ),
        m(
            "networking.k8s.io",
            "Ingress",
            "ingress",
            "apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: ing
  namespace: rt
spec:
  rules:
  - host: example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: s
            port:
              number: 80
",
        ),
        m(
            "networking.k8s.io",
            "NetworkPolicy",
            "networkpolicy",
            "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: np
  namespace: rt
spec:
  podSelector:
    matchLabels:
      app: d
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector: {}
",
        ),
        m(
            "networking.k8s.io",
            "IngressClass",
            "ingressclass",
            "apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: rt-class
spec:
  controller: example.com/ingress
",
        ),
        m(
            "rbac.authorization.k8s.io",
            "ClusterRole",
            "clusterrole",
            "apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: rt-reader
rules:
- apiGroups: [\"\"]
  resources: [pods]
  verbs: [get, list]
",
        ),
        m(
            "rbac.authorization.k8s.io",
            "ClusterRoleBinding",
            "clusterrolebinding",
            "apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: rt-reader
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: rt-reader
subjects:
- kind: ServiceAccount
  name: sa
  namespace: rt
",
        ),
        m(
            "rbac.authorization.k8s.io",
            "Role",
            "role",
            "apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: r
  namespace: rt
rules:
- apiGroups: [\"\"]
  resources: [configmaps]
  verbs: [get]
",
        ),
        m(
            "rbac.authorization.k8s.io",
            "RoleBinding",
            "rolebinding",
            "apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: r
  namespace: rt
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: r
subjects:
- kind: ServiceAccount
  name: sa
  namespace: rt
",
        ),
        m(
            "storage.k8s.io",
            "StorageClass",
            "storageclass",
            "apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: rt-sc
provisioner: example.com/none
",
        ),
        m(
            "storage.k8s.io",
            "VolumeAttributesClass",
            "volumeattributesclass",
            "apiVersion: storage.k8s.io/v1
kind: VolumeAttributesClass
metadata:
  name: rt-vac
driverName: csi.example.com
parameters:
  iops: \"100\"
",
        ),
        m(
            "storage.k8s.io",
            "CSIDriver",
            "csidriver",
            "apiVersion: storage.k8s.io/v1
kind: CSIDriver
metadata:
  name: rt.csi.example.com
spec:
  attachRequired: false
",
        ),
        m(
            "storage.k8s.io",
            "CSINode",
            "csinode",
            "apiVersion: storage.k8s.io/v1
kind: CSINode
metadata:
  name: rt-node
spec:
  drivers:
  - name: rt.csi.example.com
    nodeID: rt-node
",
        ),
        m(
            "storage.k8s.io",
            "CSIStorageCapacity",
            "csistoragecapacity",
            "apiVersion: storage.k8s.io/v1
kind: CSIStorageCapacity
metadata:
  name: rt-capacity
  namespace: rt
storageClassName: rt-sc
capacity: 10Gi
",
        ),
        m(
            "storage.k8s.io",
            "VolumeAttachment",
            "volumeattachment",
            "apiVersion: storage.k8s.io/v1
kind: VolumeAttachment
metadata:
  name: rt-va
spec:
  attacher: rt.csi.example.com
  nodeName: rt-node
  source:
    persistentVolumeName: rt-pv
",
        ),
        m(
            "networking.k8s.io",
            "ServiceCIDR",
            "servicecidr",
            "apiVersion: networking.k8s.io/v1
kind: ServiceCIDR
metadata:
  name: rt-cidr
spec:
  cidrs: [10.250.0.0/24]
",
        ),
        m(
            "networking.k8s.io",
            "IPAddress",
            "ipaddress",
            "apiVersion: networking.k8s.io/v1
kind: IPAddress
metadata:
  name: 10.250.0.10
spec:
  parentRef: {group: \"\", resource: services, namespace: rt, name: web}
",
        ),
        m(
            "resource.k8s.io",
            "DeviceClass",
            "deviceclass",
            "apiVersion: resource.k8s.io/v1
kind: DeviceClass
metadata:
  name: rt.example.com
spec:
  selectors: [{cel: {expression: \"device.driver == 'rt.example.com'\"}}]
",
        ),
        m(
            "resource.k8s.io",
            "ResourceClaim",
            "resourceclaim",
            "apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata:
  name: rt-claim
  namespace: rt
spec:
  devices:
    requests: [{name: dev, exactly: {deviceClassName: rt.example.com}}]
",
        ),
        m(
            "resource.k8s.io",
            "ResourceClaimTemplate",
            "resourceclaimtemplate",
            "apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata:
  name: rt-claim-template
  namespace: rt
spec:
  spec:
    devices:
      requests: [{name: dev, exactly: {deviceClassName: rt.example.com}}]
",
        ),
        m(
            "resource.k8s.io",
            "ResourceSlice",
            "resourceslice",
            "apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata:
  name: rt-slice
spec:
  driver: rt.example.com
  nodeName: rt-node
  pool: {name: rt-node, generation: 1, resourceSliceCount: 1}
",
        ),
        m(
            "apiregistration.k8s.io",
            "APIService",
            "apiservice",
            "apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1alpha1.rt.example.com
spec:
  group: rt.example.com
  version: v1alpha1
  groupPriorityMinimum: 100
  versionPriority: 10
",
        ),
        m(
            "node.k8s.io",
            "RuntimeClass",
            "runtimeclass",
            "apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata:
  name: rt-runtime
handler: runc
",
        ),
        m(
            "admissionregistration.k8s.io",
            "ValidatingAdmissionPolicy",
            "validatingadmissionpolicy",
            "apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: rt-policy
spec:
  matchConstraints:
    resourceRules:
    - apiGroups: [\"rt.example.com\"]
      apiVersions: [\"v1\"]
      operations: [\"CREATE\"]
      resources: [\"widgets\"]
  validations:
  - expression: \"true\"
",
        ),
        m(
            "admissionregistration.k8s.io",
            "ValidatingAdmissionPolicyBinding",
            "validatingadmissionpolicybinding",
            "apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: rt-binding
spec:
  policyName: rt-policy
  validationActions: [\"Warn\"]
",
        ),
        m(
            "admissionregistration.k8s.io",
            "MutatingAdmissionPolicy",
            "mutatingadmissionpolicy",
            "apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata:
  name: rt-mutating-policy
spec:
  matchConstraints:
    resourceRules:
    - apiGroups: [\"rt.example.com\"]
      apiVersions: [\"v1\"]
      operations: [\"CREATE\"]
      resources: [\"widgets\"]
  reinvocationPolicy: Never
  mutations:
  - patchType: JSONPatch
    jsonPatch:
      expression: \"[]\"
",
        ),
        m(
            "admissionregistration.k8s.io",
            "MutatingAdmissionPolicyBinding",
            "mutatingadmissionpolicybinding",
            "apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicyBinding
metadata:
  name: rt-mutating-binding
spec:
  policyName: rt-mutating-policy
",
        ),
        m(
            "admissionregistration.k8s.io",
            "ValidatingWebhookConfiguration",
            "validatingwebhookconfiguration",
            "apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: rt-validating
webhooks:
- name: rt.validating.example.com
  clientConfig:
    url: https://rt.example.com/validate
  rules:
  - apiGroups: [\"rt.example.com\"]
    apiVersions: [\"v1\"]
    operations: [\"CREATE\"]
    resources: [\"widgets\"]
  sideEffects: None
  admissionReviewVersions: [\"v1\"]
",
        ),
        m(
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration",
            "mutatingwebhookconfiguration",
            "apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: rt-mutating
webhooks:
- name: rt.mutating.example.com
  clientConfig:
    url: https://rt.example.com/mutate
  rules:
  - apiGroups: [\"rt.example.com\"]
    apiVersions: [\"v1\"]
    operations: [\"CREATE\"]
    resources: [\"widgets\"]
  sideEffects: None
  admissionReviewVersions: [\"v1\"]
",
        ),
        m(
            "flowcontrol.apiserver.k8s.io",
            "PriorityLevelConfiguration",
            "prioritylevelconfiguration",
            "apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: PriorityLevelConfiguration
metadata:
  name: rt-level
spec:
  type: Limited
  limited:
    nominalConcurrencyShares: 2
    limitResponse:
      type: Reject
",
        ),
        m(
            "flowcontrol.apiserver.k8s.io",
            "FlowSchema",
            "flowschema",
            "apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata:
  name: rt-schema
spec:
  priorityLevelConfiguration:
    name: rt-level
  matchingPrecedence: 5000
  rules:
  - subjects:
    - kind: User
      user:
        name: rt-user
    nonResourceRules:
    - verbs: [\"get\"]
      nonResourceURLs: [\"/rt\"]
",
        ),
        m(
            "scheduling.k8s.io",
            "PriorityClass",
            "priorityclass",
            "apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata:
  name: rt-high
value: 1000
",
        ),
        m(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            "customresourcedefinition",
            "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: rtthings.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    plural: rtthings
    kind: RtThing
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size:
                  type: integer
",
        ),
        m(
            "certificates.k8s.io",
            "CertificateSigningRequest",
            "certificatesigningrequest",
            "apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: every-kind
spec:
  signerName: kubernetes.io/kube-apiserver-client
  usages: [\"client auth\"]
  request: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0KTUlIUE1IY0NBUUF3RlRFVE1CRUdBMVVFQXd3S1pYWmxjbmt0YTJsdVpEQlpNQk1HQnlxR1NNNDlBZ0VHQ0NxRwpTTTQ5QXdFSEEwSUFCRTA3RjJVYmtjZ3g3T3ExVERoZHdXMFM3d2pIYnJaVHprOXYzeXJScmJ3a0JMRTJjckZHCnN5c20zTmxaQ3Bpa1NxKzBsWUY3b0hrWXpNMzBBcmNqbVVPZ0FEQUtCZ2dxaGtqT1BRUURBZ05JQURCRkFpRUEKa0hCSXZRWktpTUtBTEZrN0YwcXVpY0J0WU1oMm1VZzloeG5wYnpTUEEvTUNJQk50S1kzQTVnYzVYbG5mVElsZApiNVM1TnJHdWZ3dTBWemJITkVlNEVlSFMKLS0tLS1FTkQgQ0VSVElGSUNBVEUgUkVRVUVTVC0tLS0tCg==
",
        ),
    ]
}
