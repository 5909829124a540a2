-- Reserved: version 4 is another branch's migration. Delete this file when that one lands.
SELECT 1;
