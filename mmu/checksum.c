/* checksum.c */
#include "internal.h"
