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

{{/*
The image: [registry/]repository, then @digest when set (an exact image, whatever the tag
says now), else :tag (default: the chart's appVersion).
*/}}
{{- define "dsw.image" -}}
{{- $i := .Values.image -}}
{{- $name := $i.repository -}}
{{- with $i.registry -}}{{- $name = printf "%s/%s" (trimSuffix "/" .) $name -}}{{- end -}}
{{- if $i.digest -}}
{{- printf "%s@%s" $name $i.digest -}}
{{- else -}}
{{- printf "%s:%s" $name ($i.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* The worker's SASL mechanism (PLAIN when SASL_* names none), or "" without SASL. */}}
{{- define "dsw.saslMechanism" -}}
{{- if hasPrefix "SASL_" .Values.kafka.security.protocol -}}
{{- .Values.kafka.security.saslMechanism | default "PLAIN" -}}
{{- end -}}
{{- end -}}

{{/*
Kafka security as the worker checks it at start (worker/kafka_security.py), refused here
instead, with the fix: a pod that renders is a pod whose settings the worker accepts.
*/}}
{{- define "dsw.kafkaChecks" -}}
{{- $sec := .Values.kafka.security -}}
{{- $kc := .Values.kafka.credentials -}}
{{- $mech := include "dsw.saslMechanism" . -}}
{{- $tls := hasSuffix "SSL" $sec.protocol -}}
{{- if $mech -}}
{{- if eq $mech "OAUTHBEARER" -}}
{{- if eq (empty $kc.oauthTokenKey) (empty $sec.oauth.tokenCommand) -}}
{{- fail "kafka.security.saslMechanism=OAUTHBEARER: the worker needs its token from exactly one of kafka.credentials.oauthTokenKey (a file of the Secret) or kafka.security.oauth.tokenCommand" -}}
{{- end -}}
{{- else -}}
{{- if not (trim $sec.username) -}}
{{- fail (printf "kafka.security.username is empty: SASL %s logs in as a user; set kafka.security.username (the principal your ACLs name)" $mech) -}}
{{- end -}}
{{- if not $kc.passwordKey -}}
{{- fail (printf "kafka.security.protocol=%s with SASL %s needs the password: set kafka.credentials.passwordKey (and existingSecret)" $sec.protocol $mech) -}}
{{- end -}}
{{- end -}}
{{- else -}}
{{- range $name := list "saslMechanism" "username" -}}
{{- if get $sec $name -}}
{{- fail (printf "kafka.security.%s is set but kafka.security.protocol=%s does not use SASL: use SASL_SSL (or SASL_PLAINTEXT)" $name $sec.protocol) -}}
{{- end -}}
{{- end -}}
{{- range $key := list "passwordKey" "oauthTokenKey" "oauthClientIdKey" "oauthClientSecretKey" -}}
{{- if get $kc $key -}}
{{- fail (printf "kafka.credentials.%s is set but kafka.security.protocol=%s does not use SASL: use SASL_SSL (or SASL_PLAINTEXT)" $key $sec.protocol) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if not $tls -}}
{{- range $key := list "caKey" "certKey" "keyKey" "keyPasswordKey" -}}
{{- if get $kc $key -}}
{{- fail (printf "kafka.credentials.%s is set but kafka.security.protocol=%s does not use TLS: use SSL or SASL_SSL" $key $sec.protocol) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if ne (empty $kc.certKey) (empty $kc.keyKey) -}}
{{- fail "kafka.credentials.certKey and keyKey go together (mutual TLS: the certificate and its key; KEDA needs both). If one PEM file holds both, name it twice" -}}
{{- end -}}
{{- if and $kc.keyPasswordKey (not $kc.keyKey) -}}
{{- fail "kafka.credentials.keyPasswordKey without keyKey: the password decrypts the client key; set certKey and keyKey" -}}
{{- end -}}
{{- end -}}

{{/*
KEDA's name for the worker's SASL mechanism (its Kafka scaler's `sasl` parameter), or none.
*/}}
{{- define "dsw.kedaSasl" -}}
{{- $m := include "dsw.saslMechanism" . -}}
{{- if $m -}}
{{- $map := dict "PLAIN" "plaintext" "SCRAM-SHA-256" "scram_sha256" "SCRAM-SHA-512" "scram_sha512" "OAUTHBEARER" "oauthbearer" -}}
{{- get $map $m -}}
{{- else -}}
none
{{- end -}}
{{- end -}}
