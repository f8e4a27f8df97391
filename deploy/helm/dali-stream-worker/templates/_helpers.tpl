{{/* Names and labels */}}
{{- define "dsw.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "dsw.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "dsw.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dsw.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "dsw.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "dsw.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/*
Consumers (worker processes) per pod: procsPerGpu on every GPU the pod gets, or procsPerGpu
on cpu. Every one is a member of the consumer group.
*/}}
{{- define "dsw.consumersPerPod" -}}
{{- $w := .Values.worker -}}
{{- if not (has $w.device (list "gpu" "cpu")) -}}
{{- fail (printf "worker.device=%v: use gpu (every GPU the pod is given) or cpu" $w.device) -}}
{{- end -}}
{{- if lt (int $w.procsPerGpu) 1 -}}
{{- fail (printf "worker.procsPerGpu=%v: at least 1 worker process" $w.procsPerGpu) -}}
{{- end -}}
{{- if eq $w.device "gpu" -}}
{{- if lt (int $w.gpusPerPod) 1 -}}
{{- fail (printf "worker.gpusPerPod=%v with worker.device=gpu: request at least 1 GPU per pod, or set worker.device=cpu" $w.gpusPerPod) -}}
{{- end -}}
{{- mul (int $w.gpusPerPod) (int $w.procsPerGpu) -}}
{{- else -}}
{{- int $w.procsPerGpu -}}
{{- end -}}
{{- end -}}

{{/*
The replica ceiling: a consumer group uses at most as many consumers as the topic has
partitions, so pods beyond inputPartitions / consumersPerPod would only hold idle consumers.
*/}}
{{- define "dsw.maxReplicas" -}}
{{- $per := int (include "dsw.consumersPerPod" .) -}}
{{- $parts := int .Values.kafka.inputPartitions -}}
{{- $ceiling := div $parts $per -}}
{{- if lt $ceiling 1 -}}
{{- fail (printf "kafka.inputPartitions=%d is less than the consumers of one pod (%d = GPUs x procsPerGpu): one pod would leave %d of its processes idle. Add partitions to %s, or lower worker.procsPerGpu / worker.gpusPerPod" $parts $per (sub $per $parts) .Values.kafka.inputTopic) -}}
{{- end -}}
{{- $max := int .Values.autoscaling.maxReplicas -}}
{{- if eq $max 0 -}}
{{- $ceiling -}}
{{- else if gt $max $ceiling -}}
{{- fail (printf "autoscaling.maxReplicas=%d: %d pods x %d consumers each = %d consumers, but %s has %d partitions (at most %d pods can all have one). Set maxReplicas <= %d (or 0 to derive it), or add partitions" $max $max $per (mul $max $per) .Values.kafka.inputTopic $parts $ceiling $ceiling) -}}
{{- else -}}
{{- $max -}}
{{- end -}}
{{- end -}}

{{- define "dsw.kafkaSecretName" -}}
{{- if .Values.kafka.credentials.existingSecret -}}
{{- .Values.kafka.credentials.existingSecret -}}
{{- else if .Values.kafka.credentials.create -}}
{{- printf "%s-kafka" (include "dsw.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "dsw.tritonSecretName" -}}
{{- if .Values.triton.credentials.existingSecret -}}
{{- .Values.triton.credentials.existingSecret -}}
{{- else if .Values.triton.credentials.create -}}
{{- printf "%s-triton" (include "dsw.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* KEDA's name for the worker's SASL mechanism (its Kafka scaler's `sasl` parameter). */}}
{{- define "dsw.kedaSasl" -}}
{{- $sec := .Values.kafka.security -}}
{{- if hasPrefix "SASL_" $sec.protocol -}}
{{- $m := $sec.saslMechanism | default "PLAIN" -}}
{{- $map := dict "PLAIN" "plaintext" "SCRAM-SHA-256" "scram_sha256" "SCRAM-SHA-512" "scram_sha512" -}}
{{- if not (hasKey $map $m) -}}
{{- fail (printf "kafka.security.saslMechanism=%s: the KEDA Kafka scaler cannot log in with the worker's %s settings; use PLAIN or SCRAM-SHA-256/512 for the autoscaler, or set autoscaling.enabled=false" $m $m) -}}
{{- end -}}
{{- get $map $m -}}
{{- else -}}
none
{{- end -}}
{{- end -}}
