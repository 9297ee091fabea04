#ifndef SQUALL_CMARIADB_H
#define SQUALL_CMARIADB_H
#include <mariadb/mysql.h>

/* Whether the server takes array-bound statements in one COM_STMT_BULK_EXECUTE (MariaDB 10.2
   and later; not MySQL). MARIADB_STMT_BULK_SUPPORTED reads the handle's internals, so this asks
   through mariadb_get_infov instead. */
static inline int squall_mariadb_bulk_supported(MYSQL *mysql) {
    unsigned long caps = 0, extended = 0;
    if (mariadb_get_infov(mysql, MARIADB_CONNECTION_SERVER_CAPABILITIES, &caps)) return 0;
    if (mariadb_get_infov(mysql, MARIADB_CONNECTION_EXTENDED_SERVER_CAPABILITIES, &extended)) return 0;
    return !(caps & CLIENT_MYSQL) && (extended & (MARIADB_CLIENT_STMT_BULK_OPERATIONS >> 32)) != 0;
}

/* STMT_ATTR_ARRAY_SIZE takes an unsigned int (STMT_ATTR_ROW_SIZE a size_t): one typed setter. */
static inline int squall_mariadb_set_array_size(MYSQL_STMT *stmt, unsigned int rows) {
    return mysql_stmt_attr_set(stmt, STMT_ATTR_ARRAY_SIZE, &rows);
}
#endif
