package main

// sysSetns is setns(2)'s number (the syscall package lacks it here).
const sysSetns = 268
