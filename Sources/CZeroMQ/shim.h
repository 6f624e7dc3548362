// libzmq's C API (Debian's libzmq3-dev, libzmq 4.3).
#include <zmq.h>
