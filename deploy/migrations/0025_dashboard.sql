-- dashboard: the programme dashboard of ovop-webd (issue 14 point 4).
--
-- * dashboard.viewer: may sign in to the dashboard (ovop.web ApproveSignIn, ovopctl web
--   approve); iam.admin grants it. iam.admin and ops.monitor may sign in as well.
-- * worker:ovop.web: ovop-webd's principal svc-ovop.web registers as the worker of ovop.web to
--   receive those approvals. webd holds no database role: nothing to grant here.

INSERT INTO iam.roles (name, description) VALUES
    ('dashboard.viewer', 'may sign in to the programme dashboard of ovop-webd (ovopctl web approve)'),
    ('worker:ovop.web', 'may register as a worker of ovop.web (ovop-webd: dashboard sign-in approvals)');
