#ifndef SQUALL_CMARIADB_H
#define SQUALL_CMARIADB_H
#include <mariadb/mysql.h>
#endif
