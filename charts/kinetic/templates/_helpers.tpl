{{/* The release's full name: the release name, or "<release>-kinetic" unless it contains "kinetic". */}}
{{- define "kinetic.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 58 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 58 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "kinetic.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "kinetic.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "kinetic.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kinetic.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "kinetic.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/*
What the operator does in the namespaces it serves. Used as a ClusterRole's rules
(cluster-wide) or as each watched namespace's Role's rules. No wildcards: the chart's
tests fail on one, and on any rule the operator's code does not need.
*/}}
{{- define "kinetic.operatorRules" -}}
# The custom resource: watch it, add kopf's annotations/finalizers, write the status.
- apiGroups: [kinetic.dev]
  resources: [kineticjobs]
  verbs: [get, list, watch, patch]
# Batches: the operator creates each item's KineticJob (owned by its KineticBatch) and
# writes the batch's counts.
- apiGroups: [kinetic.dev]
  resources: [kineticjobs]
  verbs: [create]
- apiGroups: [kinetic.dev]
  resources: [kineticbatches]
  verbs: [get, list, watch, patch]
- apiGroups: [kinetic.dev]
  resources: [kineticbatches/status]
  verbs: [get, patch, update]
- apiGroups: [kinetic.dev]
  resources: [kineticbatches/finalizers]
  verbs: [update]
- apiGroups: [kinetic.dev]
  resources: [kineticjobs/status]
  verbs: [get, patch, update]
# Owner references with blockOwnerDeletion (the Job, Secret, Service of a KineticJob)
# need this where the OwnerReferencesPermissionEnforcement admission plugin is on.
- apiGroups: [kinetic.dev]
  resources: [kineticjobs/finalizers]
  verbs: [update]
# The Job of each KineticJob (created once, owned by the CR) and its pods.
- apiGroups: [batch]
  resources: [jobs]
  verbs: [create, get, list, watch, patch, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch, delete]
# notify=: the last lines of a finished job's log go in its notification.
- apiGroups: [""]
  resources: [pods/log]
  verbs: [get]
# Kueue (queue=): a queued Job's Workload (its message) and its position in the queue
# (Kueue's visibility API), read only; without Kueue the requests find nothing.
- apiGroups: [kueue.x-k8s.io]
  resources: [workloads]
  verbs: [get, list]
- apiGroups: [visibility.kueue.x-k8s.io]
  resources: [localqueues/pendingworkloads]
  verbs: [get]
# Events on the CR for every transition (kopf posts core/v1 Events).
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
# A job's secret env values live in a Secret owned by the CR (never in its spec).
- apiGroups: [""]
  resources: [secrets]
  verbs: [create, get, patch, delete]
# A job's ports: a Service, and a NetworkPolicy that limits who reaches them.
- apiGroups: [""]
  resources: [services]
  verbs: [create, get, list, watch, delete]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [create, get, list, watch, patch, delete]
{{- end -}}

{{/* The node-local environment cache's host path when envCache is enabled, else "". It must
not be the file store's directory: a pod cannot mount two volumes at one path. */}}
{{- define "kinetic.envCacheHostPath" -}}
{{- if .Values.envCache.enabled -}}
{{- $path := .Values.envCache.hostPath | trimSuffix "/" -}}
{{- $store := .Values.fileStore.hostPath | trimSuffix "/" -}}
{{- if and $store (eq $path $store) -}}
{{- fail (printf "envCache.hostPath %s is fileStore.hostPath too: give the environment cache a directory of its own" .Values.envCache.hostPath) -}}
{{- end -}}
{{- $path -}}
{{- end -}}
{{- end -}}
