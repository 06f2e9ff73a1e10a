// The default listen backlog; see backlog.hpp.
#include "cs/backlog.hpp"

#ifdef _WIN32
#include <winsock2.h>  // SOMAXCONN (0x7fffffff: "the provider's reasonable maximum")
#else
#include <sys/socket.h>  // SOMAXCONN
#endif

namespace cs {

// A constant expression, so it is set before any dynamic initialisation
// (a ServerOptions built at namespace scope elsewhere sees it).
const int default_backlog = SOMAXCONN;

}  // namespace cs
