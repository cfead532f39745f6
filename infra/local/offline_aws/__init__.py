"""The offline AWS: moto in server mode running the real template.yaml, the real handlers
(in Lambda-like worker processes) and the real state machine, plus a local API gateway,
a scheduler and an SES outbox. See infra/local/README.md."""
