module corio-peers/work

go 1.19
