{{/* Object names: the release name when it already says rocketmq-operator, else <release>-rocketmq-operator. */}}
{{- define "rocketmq-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The labels of manifests/default (app.kubernetes.io/name, part-of) plus Helm's own. */}}
{{- define "rocketmq-operator.labels" -}}
app.kubernetes.io/name: {{ default .Chart.Name .Values.nameOverride }}
app.kubernetes.io/part-of: rocketmq-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The selector of the operator's pods (the Deployment, the metrics Service, the ServiceMonitor). */}}
{{- define "rocketmq-operator.selector" -}}
name: {{ include "rocketmq-operator.fullname" . }}
{{- end -}}

{{/* Where the operator's ClusterRole or Roles bind: its ServiceAccount in the release namespace. */}}
{{- define "rocketmq-operator.subjects" -}}
subjects:
  - kind: ServiceAccount
    name: {{ include "rocketmq-operator.fullname" . }}
    namespace: {{ .Release.Namespace }}
{{- end -}}

{{/*
The rules of manifests/rbac/cluster_role.yaml (tests/unit/chart compares them): a ClusterRole when the
operator watches every namespace, else a Role in each watched namespace.
*/}}
{{- define "rocketmq-operator.rules" -}}
rules:
  - apiGroups: [rocketmq.huanwei.io]
    resources: [brokerclusters]
    verbs: [list, watch]
  - apiGroups: [rocketmq.huanwei.io]
    resources: [brokerclusters/status]
    verbs: [update]
  - apiGroups: [rocketmq.huanwei.io]
    resources: [brokerclusters/finalizers]
    verbs: [update]
  - apiGroups: [rocketmq.apache.org]
    resources: [brokers, nameservices, consoles, topictransfers, controllers, proxies]
    verbs: [list, watch]
  - apiGroups: [rocketmq.apache.org]
    resources: [brokers/status, nameservices/status, consoles/status, topictransfers/status, controllers/status,
                proxies/status]
    verbs: [update]
  - apiGroups: [rocketmq.apache.org]
    resources: [brokers/finalizers, nameservices/finalizers, consoles/finalizers, controllers/finalizers,
                proxies/finalizers]
    verbs: [update]
  - apiGroups: [rocketmq.apache.org]
    resources: [topictransfers]
    verbs: [update]
  - apiGroups: [apps]
    resources: [statefulsets, deployments]
    verbs: [list, watch, create, update, delete]
  - apiGroups: [""]
    resources: [services, configmaps]
    verbs: [list, watch, create, update, delete]
  - apiGroups: [policy]
    resources: [poddisruptionbudgets]
    verbs: [list, watch, create, update, delete]
  - apiGroups: [""]
    resources: [pods]
    verbs: [list, watch]
  - apiGroups: [""]
    resources: [events]
    verbs: [list, watch, create, patch]
{{- end -}}
