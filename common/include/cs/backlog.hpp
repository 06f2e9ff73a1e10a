// The listen backlog a server asks for when --backlog is not given (and the
// part 4 framework's default, cpf::ServerOptions::backlog).
#pragma once

namespace cs {

// SOMAXCONN, a constant of the system's headers fixed when the server is
// compiled: 4096 on Linux (current glibc; also net.core.somaxconn's default
// since Linux 5.4), and on Windows 0x7fffffff, which asks for the provider's
// reasonable maximum. Linux caps any backlog at net.core.somaxconn, so
// raising that above 4096 gains nothing unless --backlog is raised too.
//
// Why a large default: with SYN cookies on (Linux's default), a client whose
// handshake overflows a small accept queue can still see its connect()
// succeed, and then waits for a greeting that never comes, since the server
// never hears of it (docs/backlog.md). A burst of a few hundred connects
// can fill a backlog of 128 between two accept() calls of a busy server. A
// large backlog costs nothing until it is used: the kernel allocates nothing
// for it up front, only the connections that wait in it.
// --backlog N still sets any other value (part 7 measures small ones).
//
// Defined in backlog.cpp, which includes the platform's socket header, so
// that this header names none.
extern const int default_backlog;

}  // namespace cs
