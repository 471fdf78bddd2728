// better-sqlite3 12 builds its Database and Statement classes on node::ObjectWrap. Compiled against
// Node >= 24.19 headers, ObjectWrap's destructor requires a current JS context, which is missing when
// V8 finalizes a garbage object from an idle GC task or at exit: the process aborts with SIGABRT
// ("RemoveEnvironmentCleanupHook ... Assertion failed: (env) != nullptr"). better-sqlite3 13 fixes
// this but needs Node >= 22. So no better-sqlite3 object may ever become garbage: every database and
// statement is created through here and stays referenced for the life of the process. Statements are
// prepared once, so the number held is fixed. Never call db.pragma() or stmt.iterate(): each call
// creates a native object behind your back (use a held statement, or db.exec() for setters).

const handles = [];

/** @template T @param {T} obj @returns {T} */
function hold(obj) {
  handles.push(obj);
  return obj;
}

/** @param {typeof import('better-sqlite3')} Database @param {string} file @param {object} [options] */
export function openHeld(Database, file, options) {
  return hold(new Database(file, options));
}

/** @param {import('better-sqlite3').Database} db @param {string} sql */
export function prepareHeld(db, sql) {
  return hold(db.prepare(sql));
}
