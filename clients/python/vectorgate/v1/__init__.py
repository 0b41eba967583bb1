"""Generated protobuf and gRPC stubs for vectorgate.v1. Do not edit: run scripts/gen_protos.sh."""
