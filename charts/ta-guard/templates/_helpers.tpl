{{/* The policy file: the value given, or the mode's own. */}}
{{- define "ta-guard.policy" -}}
{{- if .Values.policy -}}
{{ .Values.policy }}
{{- else -}}
{{- if not (has .Values.mode (list "audit" "warn" "enforce")) -}}
{{- fail (printf "mode %q: want audit, warn or enforce" .Values.mode) -}}
{{- end -}}
{{ .Files.Get (printf "files/policy-%s.yaml" .Values.mode) }}
{{- end -}}
{{- end -}}

{{/* Namespaces the webhook leaves out beside its own. */}}
{{- define "ta-guard.excludedNamespaces" -}}
{{- $ns := .Values.excludeNamespaces -}}
{{- if eq .Values.mode "enforce" -}}{{- $ns = prepend $ns "kube-system" -}}{{- end -}}
{{ toYaml (uniq $ns) }}
{{- end -}}

{{/* A CA and a serving certificate for the Service, generated once per render. */}}
{{- define "ta-guard.certs" -}}
{{- if not .Release.ta_guard_certs -}}
{{- $ca := genCA "ta-guard-ca" 3650 -}}
{{- $cert := genSignedCert "ta-guard.ta-guard.svc" nil (list "ta-guard.ta-guard.svc" "ta-guard.ta-guard.svc.cluster.local") 365 $ca -}}
{{- $_ := set .Release "ta_guard_certs" (dict "ca" $ca.Cert "cert" $cert.Cert "key" $cert.Key) -}}
{{- end -}}
{{ toYaml .Release.ta_guard_certs }}
{{- end -}}
