// protobuf-c's runtime, used by the code protoc-c generates from proto/.
#include <protobuf-c/protobuf-c.h>
