#ifndef SQUALL_CHIREDIS_H
#define SQUALL_CHIREDIS_H
#include <hiredis/hiredis.h>
#endif
