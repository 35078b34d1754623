{{/*
The name of the release's objects: the release's name when it holds
"ta-guard" (helm install ta-guard ...: the kustomize base's names),
<release>-ta-guard otherwise, or fullnameOverride; at most 63 characters,
as the Service's name is a DNS label.
*/}}
{{- define "ta-guard.fullname" -}}
{{- $n := .Values.fullnameOverride | default (ternary .Release.Name (printf "%s-ta-guard" .Release.Name) (contains "ta-guard" .Release.Name)) -}}
{{- if gt (len $n) 63 -}}
{{- fail (printf "name %q: at most 63 characters (the Service's name is a DNS label)" $n) -}}
{{- end -}}
{{- $n -}}
{{- end -}}

{{/*
The policy file: the value given, or the mode's own; with rules, their
actions over that file's (written out again, without its comments).
*/}}
{{- define "ta-guard.policy" -}}
{{- $base := .Values.policy -}}
{{- if not $base -}}
{{- if not (has .Values.mode (list "audit" "warn" "enforce")) -}}
{{- fail (printf "mode %q: want audit, warn or enforce" .Values.mode) -}}
{{- end -}}
{{- $base = .Files.Get (printf "files/policy-%s.yaml" .Values.mode) -}}
{{- end -}}
{{- if .Values.rules -}}
{{- $p := fromYaml $base | default dict -}}
{{- $_ := set $p "rules" (merge (deepCopy .Values.rules) (get $p "rules" | default dict)) -}}
{{ toYaml $p }}
{{- else -}}
{{ $base }}
{{- end -}}
{{- end -}}

{{/* Namespaces the webhook leaves out beside its own. */}}
{{- define "ta-guard.excludedNamespaces" -}}
{{- $ns := .Values.excludeNamespaces -}}
{{- if eq .Values.mode "enforce" -}}{{- $ns = prepend $ns "kube-system" -}}{{- end -}}
{{ toYaml (uniq $ns) }}
{{- end -}}

{{/*
A CA and a serving certificate for the Service, without cert-manager: those
of the installed Secret while its ta-guard.io/renew-after (seconds since the
epoch) is in the future, so that an upgrade keeps them and the caBundle with
them; new ones (valid 365 days, renewed by the first upgrade after 335)
otherwise. Worked out once per render.
*/}}
{{- define "ta-guard.certs" -}}
{{- if not .Release.ta_guard_certs -}}
{{- $fullname := include "ta-guard.fullname" . -}}
{{- $old := lookup "v1" "Secret" .Release.Namespace (printf "%s-webhook-tls" $fullname) -}}
{{- $renewAfter := 0 | int64 -}}
{{- if and $old $old.metadata.annotations -}}
{{- $renewAfter = index $old.metadata.annotations "ta-guard.io/renew-after" | default "0" | int64 -}}
{{- end -}}
{{- if and $old $old.data (lt (now | unixEpoch | int64) $renewAfter) -}}
{{- $_ := set .Release "ta_guard_certs" (dict "ca" (index $old.data "ca.crt" | b64dec) "cert" (index $old.data "tls.crt" | b64dec) "key" (index $old.data "tls.key" | b64dec) "renewAfter" ($renewAfter | toString)) -}}
{{- else -}}
{{- $ca := genCA "ta-guard-ca" 3650 -}}
{{- $svc := printf "%s.%s.svc" $fullname .Release.Namespace -}}
{{- $cert := genSignedCert $svc nil (list $svc (printf "%s.cluster.local" $svc)) 365 $ca -}}
{{- $renew := add (now | unixEpoch | int64) (mul 335 86400) -}}
{{- $_ := set .Release "ta_guard_certs" (dict "ca" $ca.Cert "cert" $cert.Cert "key" $cert.Key "renewAfter" ($renew | toString)) -}}
{{- end -}}
{{- end -}}
{{ toYaml .Release.ta_guard_certs }}
{{- end -}}

{{/*
Non-empty when ta-guard issues and rotates its own certificates: no
cert-manager and selfSignedBy ta-guard.
*/}}
{{- define "ta-guard.selfIssued" -}}
{{- if not .Values.certManager.enabled -}}
{{- if not (has .Values.selfSignedBy (list "ta-guard" "helm")) -}}
{{- fail (printf "selfSignedBy %q: want ta-guard or helm" .Values.selfSignedBy) -}}
{{- end -}}
{{- if eq .Values.selfSignedBy "ta-guard" -}}true{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Helm's standard labels, on every object the chart renders beside the
labels the kustomize manifests carry too.
*/}}
{{- define "ta-guard.helmLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}
