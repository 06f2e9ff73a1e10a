// How every program of this chapter starts: its application object and,
// for the three servers, main() itself, which they write the same way.
#pragma once

#include <QCoreApplication>

#include <functional>
#include <string>

#include "cs/options.hpp"
#include "cs/stop.hpp"

namespace part6 {

// Qt's own event dispatcher (it waits in ppoll()) for every event loop the
// process makes from now on, rather than GLib's (poll()), unless QT_NO_GLIB
// is already in the environment: Qt reads it as it makes each thread's
// dispatcher, so call this before QCoreApplication. Why: qt_main.cpp.
void choose_event_dispatcher();

// What Application gives QCoreApplication, which keeps a reference to argc:
// a base class of Application, so that it is made first and outlives it.
// Making it also routes Qt's messages into the log (see Application) and
// chooses the event dispatcher (choose_event_dispatcher).
struct QtArguments {
  explicit QtArguments(char* program);
  int qt_argc = 1;
  char* qt_argv[2];
};

// The QCoreApplication of every program here (headless: QtCore and
// QtNetwork only). Qt gets only the program name: the command line was
// parsed already, and Qt would act on some of its arguments (-platform,
// -reverse, ...). Qt's own messages (qWarning from inside QtCore and
// QtNetwork, such as "QSocketNotifier: Socket notifiers cannot be enabled
// or disabled from another thread") go through cs::log_*, so they are whole
// lines with time and thread id like every other log line, and tests can
// look for them; Qt still aborts on a warning when QT_FATAL_WARNINGS=1 is
// set. Make one, on the main thread, before any other QObject.
class Application : private QtArguments, public QCoreApplication {
 public:
  explicit Application(char* program);
};

// A server's body: serves `options` until `stop`; `program` is argv[0],
// for its Application.
using RunServer = std::function<void(const cs::ServerOptions& options,
                                     const cs::StopSignal& stop, char* program)>;

// main() of the three servers, as every chapter writes it: parses the
// command line (offering --threads when `default_threads` is not 0),
// installs the SIGINT/SIGTERM handlers and runs `run_server` under
// cs::run_guarded, so a setup error prints "NAME: error: ..." and exits 1.
int server_main(int argc, char** argv, const std::string& name, const std::string& description,
                const RunServer& run_server, unsigned default_threads = 0);

}  // namespace part6
