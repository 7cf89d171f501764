DROP INDEX cpfp_children_competition;
DROP INDEX cpfp_children_parent;
DROP TABLE cpfp_children;
DROP TABLE cpfp_parents;
