/*
 * main.c: mantrid's entry point. Everything lives in the libraries so
 * the tests link the real code.
 */
#include "config.h"

#include "master.h"

int
main(int argc, char *argv[])
{
	return master_main(argc, argv);
}
