// How every program of this chapter starts; see qt_main.hpp.
#include "qt_main.hpp"

#include <QtGlobal>

#include "cs/log.hpp"

namespace part6 {

namespace {

void route_qt_message(QtMsgType type, const QMessageLogContext&, const QString& message) {
  const std::string text = "qt: " + message.toStdString();
  switch (type) {
    case QtDebugMsg: cs::log_debug(text); break;
    case QtInfoMsg: cs::log_info(text); break;
    case QtWarningMsg: cs::log_warn(text); break;
    case QtCriticalMsg:
    case QtFatalMsg: cs::log_error(text); break;
  }
  // Qt itself aborts after a QtFatalMsg (and after warnings under
  // QT_FATAL_WARNINGS=1) once this handler returns.
}

}  // namespace

void choose_event_dispatcher() {
  // GLib wakes its own loop through an eventfd whenever the set of
  // descriptors it polls changes, and QTcpSocket changes it twice per reply
  // (its write notifier, enabled by write() and disabled by flush() once
  // the bytes are out): two eventfd writes per reply, and Qt's GLib
  // dispatcher allocates a record each time a notifier is enabled. Qt's own
  // dispatcher makes neither. See docs/part6_qt.md, "What a request costs,
  // profiled". A QT_NO_GLIB already in the environment is left alone:
  // non-empty picks Qt's dispatcher, empty keeps GLib's.
  if (!qEnvironmentVariableIsSet("QT_NO_GLIB")) qputenv("QT_NO_GLIB", "1");
}

QtArguments::QtArguments(char* program) : qt_argv{program, nullptr} {
  // Before QCoreApplication exists, so that its own messages are routed too.
  qInstallMessageHandler(route_qt_message);
  choose_event_dispatcher();
}

Application::Application(char* program)
    : QtArguments(program), QCoreApplication(qt_argc, qt_argv) {}

int server_main(int argc, char** argv, const std::string& name, const std::string& description,
                const RunServer& run_server, unsigned default_threads) {
  cs::CommandLine command_line(name, description);
  if (default_threads != 0) command_line.add_threads_option(default_threads);
  const cs::ServerOptions options = command_line.parse(argc, argv);
  cs::StopSignal stop;
  cs::install_stop_handlers(stop);
  return cs::run_guarded(name, [&] { run_server(options, stop, argv[0]); });
}

}  // namespace part6
